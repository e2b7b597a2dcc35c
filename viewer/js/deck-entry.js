// The deck.gl pieces the map page uses, bundled by scripts/build-viewer.sh into
// viewer/static/vendor/deck-bundle.js as one global, `deck`.  Add a class here before naming it
// as "@@type" in viewer/layers.py.
export {Deck, MapView, COORDINATE_SYSTEM, WebMercatorViewport, FlyToInterpolator} from '@deck.gl/core';
export {
  BitmapLayer, GeoJsonLayer, PathLayer, PolygonLayer, ScatterplotLayer, SolidPolygonLayer, TextLayer,
} from '@deck.gl/layers';
export {MVTLayer, TileLayer} from '@deck.gl/geo-layers';
export {ScenegraphLayer, SimpleMeshLayer} from '@deck.gl/mesh-layers';
export {DataFilterExtension} from '@deck.gl/extensions';
export {JSONConfiguration, JSONConverter} from '@deck.gl/json';
export {load, registerLoaders} from '@loaders.gl/core';
export {GLTFLoader} from '@loaders.gl/gltf';
export {MVTLoader} from '@loaders.gl/mvt';
