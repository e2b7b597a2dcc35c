// SiteWatch map page, part 3: boot, the deck, which layers draw when, live sensors.
// The layers come from our pydeck spec (inlined by the template as #sw-spec) through deck.gl's
// JSONConverter; this script only switches them on and off and feeds them state.
(function () {
  'use strict';
  const SW = window.SW;
  const $ = (id) => document.getElementById(id);

  SW.groups = {basemap: true, districts: true, projects: true, bim: true, sensors: true};
  SW.tilesOk = false;
  SW.have = new Set();
  SW.timing = {start: performance.now(), firstFullFrame: null};

  async function probeTiles() {
    // OGC API Tiles: the collection lists its tilesets when vector tiles are served.
    if (SW.meta.gcj02) return false; // tiles cannot be shifted per vertex; GeoJSON can
    try {
      const r = await fetch('/ogc/collections/projects/tiles?f=json', {headers: {Accept: 'application/json'}});
      if (!r.ok) return false;
      return JSON.stringify(await r.json()).includes('WebMercatorQuad');
    } catch (e) {
      return false;
    }
  }

  function converter() {
    const classes = {};
    for (const [name, value] of Object.entries(window.deck)) {
      if (typeof value === 'function' && /(Layer|Extension|View)$/.test(name)) classes[name] = value;
    }
    const configuration = new deck.JSONConfiguration({
      classes, functions: SW.functions, enumerations: {COORDINATE_SYSTEM: deck.COORDINATE_SYSTEM},
      constants: {MVT_LOADERS: [deck.MVTLoader]},
    });
    return new deck.JSONConverter({configuration});
  }

  // -- which layer draws, and with what state ------------------------------------------------------
  function layerMeta(id) {
    return SW.meta.layers[id] || {};
  }
  function available(id) {
    const m = layerMeta(id);
    return (m.requires || []).every((c) => SW.have.has(c));
  }
  function inZoom(m, z) {
    return (m.min_zoom == null || z >= m.min_zoom) && (m.max_zoom == null || z < m.max_zoom);
  }
  function roleOk(role) {
    if (role === 'projects-tiles') return SW.tilesOk;
    if (role === 'projects-fallback') return !SW.tilesOk;
    return true;
  }
  function categories() {
    const f = SW.state.filters;
    return [
      f.district ? [f.district] : SW.meta.districts.map((d) => d.code),
      f.stage ? [f.stage] : SW.meta.stages,
      f.type ? [f.type] : SW.meta.types,
    ];
  }
  SW.detail = () => SW.state.zoom >= SW.meta.detail_zoom;
  SW.city = () => SW.state.zoom < SW.meta.city_zoom;

  function dynamicProps(layer) {
    const m = layerMeta(layer.id);
    const st = SW.state;
    const props = {visible: SW.groups[m.group] !== false && inZoom(m, st.zoom) && roleOk(m.role)};
    const detail = SW.detail();
    const city = SW.city();
    switch (m.role) {
      case 'projects-tiles':
      case 'projects-geojson':
      case 'projects-fallback':
        props.filterCategories = categories();
        // At city zoom a footprint is smaller than a pixel: draw it flat with a thick outline in
        // its own colour, so every project shows as a dot.  In detail, where BIM elements stand
        // on the site, the project is a flat footprint too.
        props.extruded = !city && !(detail && SW.have.has('bim-elements') && SW.groups.bim !== false);
        props.lineWidthMinPixels = city ? 3 : 1;
        props.updateTriggers = {getFillColor: [detail], getLineColor: [city]};
        if (m.role === 'projects-tiles') props.onTileError = onTileError;
        break;
      case 'bim-elements':
        props.updateTriggers = {getTileData: [st.statusDate], getFillColor: [st.date, st.statusDate]};
        break;
      case 'bim-mesh':
        // The mesh is read and coloured here, not in the spec: see sw-mesh.js.
        if (props.visible) Object.assign(props, SW.mesh.layerProps(layer.props.data[0]));
        break;
      case 'sensors':
      case 'sensor-values':
        props.data = st.sensors;
        props.updateTriggers = {getText: [st.lang, st.sensorsVersion], getFillColor: [st.sensorsVersion]};
        break;
      case 'sensor-alarms':
        props.data = st.alarms;
        props.radiusScale = st.pulse ? 1.35 : 1.0;
        break;
      default:
        if (layer.id === 'district-labels') props.updateTriggers = {getText: [st.lang]};
    }
    return props;
  }

  function onTileError(err) {
    // Tiles announced but failing (e.g. the endpoint is not deployed): fall back to GeoJSON once.
    if (!SW.tilesOk) return;
    console.warn('SiteWatch: vector tiles failed, using GeoJSON', err);
    SW.tilesOk = false;
    SW.ui.notice(SW.t('tiles_missing'));
    SW.redraw();
  }

  // Layers that should not draw now are left out, not just hidden: a hidden tile layer would
  // still fetch tiles for the view.
  SW.redraw = function () {
    if (!SW.deck) return;
    const layers = [];
    for (const l of SW.baseLayers) {
      const props = dynamicProps(l);
      if (props.visible) layers.push(l.clone(props));
    }
    SW.deck.setProps({layers});
  };

  // Visible layers all loaded (data and tiles in view) → the frame shows everything.
  SW.allLoaded = function () {
    if (!SW.deck || !SW.deck.layerManager) return false;
    const top = SW.deck.layerManager.getLayers().filter((l) => !l.parent && l.props.visible);
    if (SW.have.has('sensors') && !SW.state.sensorsVersion) return false;
    if (SW.mesh.busy()) return false; // a mesh's colours at the status date are still on the way
    return top.length > 0 && top.every((l) => l.isLoaded);
  };
  function afterRender() {
    if (SW.timing.firstFullFrame == null && SW.allLoaded()) {
      SW.timing.firstFullFrame = performance.now();
      document.body.dataset.ready = '1';
    }
  }

  // Screen position (CSS px in the page) of a lon/lat (for tests and the benchmark).
  SW.project = function (lon, lat, z) {
    const vp = SW.deck.getViewports()[0];
    const [x, y] = vp.project(SW.shiftPos([lon, lat, z || 0]));
    const rect = $('map').getBoundingClientRect();
    return [rect.left + x, rect.top + y];
  };
  SW.flyTo = function (view) {
    const cur = SW.viewState;
    const v = {longitude: cur.longitude, latitude: cur.latitude, zoom: cur.zoom, pitch: cur.pitch,
      bearing: cur.bearing, minZoom: 3, maxZoom: 20, ...view};
    const duration = v.transitionDuration == null ? 800 : v.transitionDuration;
    if (duration > 0) {
      v.transitionDuration = duration;
      v.transitionInterpolator = new deck.FlyToInterpolator();
    } else {
      delete v.transitionDuration;
      SW.viewState = v;
      SW.state.zoom = v.zoom;
    }
    SW.deck.setProps({initialViewState: v});
    SW.redraw();
  };

  function zoomBucket(z) {
    let b = '';
    for (const m of Object.values(SW.meta.layers)) {
      b += inZoom(m, z) ? '1' : '0';
    }
    return b + (z >= SW.meta.detail_zoom ? 'd' : '') + (z < SW.meta.city_zoom ? 'c' : '');
  }

  // -- picking --------------------------------------------------------------------------------------
  function pickedRole(info) {
    let l = info.layer;
    while (l && l.parent) l = l.parent;
    return l ? layerMeta(l.id).role || l.id : null;
  }
  function onClick(info) {
    if (!info.object) return;
    const role = pickedRole(info);
    const props = info.object.properties || info.object;
    if (role && role.startsWith('projects') && props.code) SW.ui.openProject(props.code);
    else if (role === 'bim-elements') SW.ui.openElement(props);
    else if (role === 'sensors') SW.ui.openSensor(info.object);
  }
  function getTooltip(info) {
    if (!info.object) return null;
    const role = pickedRole(info);
    const p = info.object.properties || info.object;
    let text = null;
    if (role && role.startsWith('projects')) text = `${p.name || ''}\n${p.code || ''}`;
    else if (role === 'bim-elements') text = `${p.ifc_class} · ${p.storey || ''}\n${SW.t('status.' + SW.elementStatus(p))}`;
    else if (role === 'sensors') text = SW.functions.sensorLabel()(p) + `\n${SW.t('sensor.' + SW.sensorState(p))}`;
    return text && {text, className: 'deck-tip'};
  }

  // -- live sensors -----------------------------------------------------------------------------------
  async function pollSensors() {
    try {
      const fc = await SW.getJSON('/ogc/collections/sensors/items?f=json&limit=10000');
      const sensors = (fc.features || []).filter((f) => f.geometry).map((f) => ({
        ...f.properties, id: f.id, position: f.geometry.coordinates,
      }));
      let alarms = sensors.filter((s) => s.state === 'alarm');
      if (SW.have.has('alarms')) {
        try {
          const a = await SW.getJSON('/ogc/collections/alarms/items?f=json&limit=1000');
          const open = (a.features || []).filter((f) => (f.properties.state || 'open') !== 'closed');
          SW.state.openAlarms = open.map((f) => f.properties);
          const key = (p, c) => `${p}/${c}`;
          const open_keys = new Set(open.map((f) => key(f.properties.project_code, f.properties.sensor_code)));
          alarms = sensors.filter((s) => s.state === 'alarm' || open_keys.has(key(s.project_code, s.code)));
        } catch (e) {
          console.warn('SiteWatch: alarms', e);
        }
      } else {
        SW.state.openAlarms = alarms.map((s) => ({sensor_code: s.code, project_code: s.project_code,
          state: 'open', level: 'alarm', opened_at: s.ts}));
      }
      SW.state.sensors = sensors;
      SW.state.alarms = alarms;
      SW.state.sensorsVersion = (SW.state.sensorsVersion || 0) + 1;
      SW.ui.sensorsUpdated();
      SW.redraw();
    } catch (e) {
      console.warn('SiteWatch: sensors', e);
    } finally {
      setTimeout(pollSensors, SW.meta.sensor_refresh_ms);
    }
  }
  function pulse() {
    if (!SW.state.alarms.length || SW.groups.sensors === false) return;
    SW.state.pulse = !SW.state.pulse;
    SW.redraw();
  }

  // -- boot ---------------------------------------------------------------------------------------------
  async function boot() {
    const spec = JSON.parse($('sw-spec').textContent);
    SW.meta = spec.sitewatch;
    SW.state.lang = localStorage.getItem('sitewatch.lang') || 'zh';
    const [strings, colls, tiles] = await Promise.all([
      fetch('/static/i18n.json').then((r) => r.json()),
      SW.getJSON('/ogc/collections?f=json').catch(() => ({collections: []})),
      probeTiles(),
    ]);
    SW.strings = strings;
    SW.have = new Set([...(colls.collections || []).map((c) => c.id), ...SW.meta.available]);
    SW.tilesOk = tiles;
    SW.ui.initDate();

    const converted = converter().convert(spec.deck);
    SW.baseLayers = converted.layers.filter((l) => available(l.id));
    SW.viewState = converted.initialViewState;
    SW.state.zoom = SW.viewState.zoom;
    let bucket = zoomBucket(SW.state.zoom);
    SW.deck = new deck.Deck({
      parent: $('map'),
      views: converted.views,
      initialViewState: converted.initialViewState,
      controller: true,
      useDevicePixels: Math.min(window.devicePixelRatio || 1, 2),
      layers: [],
      onViewStateChange: ({viewState}) => {
        SW.viewState = viewState;
        SW.state.zoom = viewState.zoom;
        const b = zoomBucket(viewState.zoom);
        if (b !== bucket) {
          bucket = b;
          SW.redraw();
        }
        return viewState;
      },
      onClick,
      getTooltip,
      onAfterRender: afterRender,
    });
    SW.ui.init();
    SW.redraw();
    if (SW.have.has('sensors')) {
      pollSensors();
      setInterval(pulse, 700);
    }
  }

  SW.booted = boot().catch((e) => {
    console.error(e);
    const n = $('notice');
    n.textContent = `SiteWatch: ${e.message}`;
    n.hidden = false;
  });
})();
