// SiteWatch map page, part 1: state, colours, the GCJ-02 display shift, and the functions that
// viewer/layers.py names with pydeck.types.Function ("@@function" in the deck.gl JSON).
// Hand-written; no build step.  Part 2 (sitewatch.js) builds the deck and the UI.
(function () {
  'use strict';

  const SW = (window.SW = window.SW || {});
  SW.state = {
    lang: 'zh',
    date: new Date().toISOString().slice(0, 10), // 4D status date, YYYY-MM-DD
    statusDate: null, // the date whose reported status the element tiles carry (set once the slider rests)
    filters: {district: '', stage: '', type: ''}, // '' = all
    sensors: [], // [{id, code, position, value, unit, state, ...}]
    alarms: [], // sensors with an open alarm (ring layer)
    zoom: 10,
  };
  SW.meta = null; // spec.sitewatch, set by sitewatch.js before conversion
  SW.strings = {zh: {}, en: {}};

  SW.t = function (key) {
    const table = SW.strings[SW.state.lang] || {};
    return key in table ? table[key] : (SW.strings.zh[key] || key);
  };

  // -- WGS84 / CGCS2000 -> GCJ-02 (twin of viewer/gcj02.py) --------------------------------------
  const A = 6378245.0;
  const EE = 0.00669342162296594323;
  const PI = Math.PI;
  function outOfChina(lon, lat) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }
  function dLat(x, y) {
    let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0;
    r += ((20.0 * Math.sin(y * PI) + 40.0 * Math.sin((y / 3.0) * PI)) * 2.0) / 3.0;
    r += ((160.0 * Math.sin((y / 12.0) * PI) + 320.0 * Math.sin((y * PI) / 30.0)) * 2.0) / 3.0;
    return r;
  }
  function dLon(x, y) {
    let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0;
    r += ((20.0 * Math.sin(x * PI) + 40.0 * Math.sin((x / 3.0) * PI)) * 2.0) / 3.0;
    r += ((150.0 * Math.sin((x / 12.0) * PI) + 300.0 * Math.sin((x / 30.0) * PI)) * 2.0) / 3.0;
    return r;
  }
  SW.gcj02 = function (lon, lat) {
    if (outOfChina(lon, lat)) return [lon, lat];
    const x = lon - 105.0;
    const y = lat - 35.0;
    const rad = (lat / 180.0) * PI;
    const magic = 1 - EE * Math.sin(rad) * Math.sin(rad);
    const sq = Math.sqrt(magic);
    const la = (dLat(x, y) * 180.0) / (((A * (1 - EE)) / (magic * sq)) * PI);
    const lo = (dLon(x, y) * 180.0) / ((A / sq) * Math.cos(rad) * PI);
    return [lon + lo, lat + la];
  };

  // Our data -> display coordinates (identity unless the basemap is GCJ-02).
  function shiftPos(p) {
    if (!SW.meta || !SW.meta.gcj02 || !p) return p;
    const s = SW.gcj02(p[0], p[1]);
    return p.length > 2 ? [s[0], s[1], p[2]] : s;
  }
  function shiftCoords(c) {
    return typeof c[0] === 'number' ? shiftPos(c) : c.map(shiftCoords);
  }
  SW.displayFeatures = function (features) {
    if (!SW.meta || !SW.meta.gcj02) return features;
    for (const f of features) {
      if (f.geometry && f.geometry.coordinates) f.geometry.coordinates = shiftCoords(f.geometry.coordinates);
    }
    return features;
  };
  SW.shiftPos = shiftPos;

  // -- colours ------------------------------------------------------------------------------------
  const pal = (table, key, fallback) => {
    const p = SW.meta.palette[table];
    return (p && p[key]) || fallback || SW.meta.palette.other.unknown;
  };
  SW.pal = pal; // the other scripts' way to a palette colour (sw-mesh.js)
  SW.projectColour = function (props) {
    if (props.card && SW.meta.palette.card[props.card]) return SW.meta.palette.card[props.card];
    return pal('stage', props.stage);
  };
  SW.plannedStatus = function (props, date) {
    const s = props.planned_start;
    const f = props.planned_finish;
    if (!s && !f) return 'unscheduled';
    if (s && date < s) return 'not_started';
    if (f && date >= f) return 'done';
    return 'in_progress';
  };
  SW.elementStatus = function (props) {
    // Reported progress (the progress issue) wins where the feed carries it for this date.
    if (props.status && props.status_date === SW.state.date) return props.status;
    return SW.plannedStatus(props, SW.state.date);
  };
  SW.sensorState = (d) => (d.state in SW.meta.palette.sensor ? d.state : 'offline');

  // -- tile fetchers --------------------------------------------------------------------------------
  async function getJSON(url, signal) {
    const r = await fetch(url, {signal, headers: {Accept: 'application/geo+json, application/json'}});
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  }
  SW.getJSON = getJSON;
  function bboxParam(bbox) {
    // Tiles are in display coordinates; pad by ~1 km so a GCJ-02 shift never drops a feature.
    const pad = SW.meta && SW.meta.gcj02 ? 0.01 : 0;
    return [bbox.west - pad, bbox.south - pad, bbox.east + pad, bbox.north + pad]
      .map((v) => v.toFixed(6)).join(',');
  }

  // -- the functions named in the deck JSON ---------------------------------------------------------
  const D = () => window.deck;
  SW.functions = {
    bitmapTile: () => (props) => {
      const {west, south, east, north} = props.tile.bbox;
      const [w, s] = SW.meta.gcj02 ? [west, south] : [west, south];
      return new (D().BitmapLayer)(props, {data: null, image: props.data, bounds: [w, s, east, north]});
    },
    toDisplay: () => (data) => {
      const features = Array.isArray(data) ? data : data.features || [];
      return SW.displayFeatures(features);
    },
    displayPosition: ({key}) => (d) => shiftPos(d[key]),
    districtName: () => (d) => (SW.state.lang === 'en' ? d.name_en || d.name : d.name),
    projectFill: () => (f) => {
      const c = SW.projectColour(f.properties || {});
      return [c[0], c[1], c[2], SW.state.zoom >= SW.meta.detail_zoom ? 200 : 235];
    },
    projectLine: () => (f) => {
      const c = SW.projectColour(f.properties || {});
      if (SW.city()) return [c[0] * 0.85, c[1] * 0.85, c[2] * 0.85, 255];
      return [c[0] * 0.55, c[1] * 0.55, c[2] * 0.55, 255];
    },
    projectHeight: () => (f) => {
      const p = f.properties || {};
      if (p.height) return +p.height;
      return p.storeys ? +p.storeys * 3.2 : 8;
    },
    projectCategory: () => (f) => {
      const p = f.properties || {};
      return [p.district_code || '', p.stage || '', p.type || ''];
    },
    ogcItemsTile: ({collection, limit}) => async (tile) => {
      const url = `/ogc/collections/${collection}/items?f=json&limit=${limit}&bbox=${bboxParam(tile.bbox)}`;
      const fc = await getJSON(url, tile.signal);
      return SW.displayFeatures(fc.features || []);
    },
    elementsTile: () => async (tile) => {
      const date = SW.state.statusDate ? `&date=${SW.state.statusDate}` : '';
      const fc = await getJSON(`/viewer/elements.json?bbox=${bboxParam(tile.bbox)}${date}`, tile.signal);
      const feats = SW.displayFeatures(fc.features || []);
      for (const f of feats) {
        // Stand each footprint at its bottom elevation; the extrusion adds the element's height.
        const z = +f.properties.bottom_elevation || 0;
        const lift = (c) => (typeof c[0] === 'number' ? [c[0], c[1], z] : c.map(lift));
        if (f.geometry) f.geometry.coordinates = lift(f.geometry.coordinates);
      }
      return feats;
    },
    elementFill: () => (f) => pal('status', SW.elementStatus(f.properties || {})),
    elementHeight: () => (f) => {
      const p = f.properties || {};
      const h = (+p.top_elevation || 0) - (+p.bottom_elevation || 0);
      return h > 0.05 ? h : 0.3;
    },
    sensorFill: () => (d) => pal('sensor', SW.sensorState(d)),
    sensorLine: () => (d) => (SW.sensorState(d) === 'alarm' ? [120, 0, 0, 255] : [255, 255, 255, 255]),
    sensorLabel: () => (d) => (d.value == null ? d.code : `${d.code} ${SW.formatNumber(d.value)}${d.unit ? ' ' + d.unit : ''}`),
    // [pitch, yaw, roll] of a model's Z-up mesh (sw-mesh.js): yaw is anticlockwise, as the
    // placement's rotation from east to the model's +X.
    modelOrientation: () => (d) => [0, d.rotation || 0, 0],
  };

  SW.formatNumber = function (v, digits) {
    if (v == null || v === '' || Number.isNaN(+v)) return '—';
    const n = +v;
    const d = digits != null ? digits : Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
    return n.toLocaleString(SW.state.lang === 'en' ? 'en-US' : 'zh-CN', {
      minimumFractionDigits: 0, maximumFractionDigits: d,
    });
  };
})();
