// SiteWatch map page, part 1b: BIM model meshes, coloured per element by 4D status.
// Each model's GLB (bim/geometry/write_glb.py: one node per element, named by its GlobalId) is
// read once into one triangle mesh for deck.gl's SimpleMeshLayer, keeping each element's range of
// vertices; the mesh's `colors` are filled by the footprints' own rule (SW.elementStatus): the
// planned status while the slider moves, the reported one once it rests (SW.state.statusDate).
// Hand-written; no build step.  sitewatch.js asks SW.mesh for each mesh layer's props.
(function () {
  'use strict';

  const SW = (window.SW = window.SW || {});
  const GLB_MAGIC = 0x46546c67; // "glTF"
  const CHUNK_JSON = 0x4e4f534a; // "JSON"
  const CHUNK_BIN = 0x004e4942; // "BIN\0"
  const FLOAT = 5126;
  const UNSIGNED_INT = 5125;

  // -- reading our GLB ------------------------------------------------------------------------------
  function glbChunks(buffer) {
    const view = new DataView(buffer);
    if (buffer.byteLength < 20 || view.getUint32(0, true) !== GLB_MAGIC || view.getUint32(4, true) !== 2) {
      throw new Error('not a binary glTF 2.0 file');
    }
    let doc = null;
    let bin = null;
    for (let at = 12; at + 8 <= buffer.byteLength;) {
      const length = view.getUint32(at, true);
      const type = view.getUint32(at + 4, true);
      if (type === CHUNK_JSON) doc = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, at + 8, length)));
      else if (type === CHUNK_BIN) bin = {buffer, offset: at + 8, length};
      at += 8 + length;
    }
    if (!doc) throw new Error('the GLB has no JSON chunk');
    return {doc, bin};
  }

  // The typed array behind one accessor.  Our writer packs arrays tightly (no byteStride); other
  // layouts are refused rather than misread.
  function accessorArray(doc, bin, index, componentType, components) {
    const acc = doc.accessors[index];
    const view = doc.bufferViews[acc.bufferView];
    if (acc.componentType !== componentType || (view.byteStride && view.byteStride !== components * 4)) {
      throw new Error(`accessor ${index}: not the layout bim/geometry/write_glb.py writes`);
    }
    const start = bin.offset + (view.byteOffset || 0) + (acc.byteOffset || 0);
    const length = acc.count * components;
    const Type = componentType === FLOAT ? Float32Array : Uint32Array;
    // Our chunks and arrays start on 4-byte boundaries; copy only if a file's do not.
    if (start % 4 === 0) return new Type(bin.buffer, start, length);
    return new Type(bin.buffer.slice(start, start + length * 4));
  }

  // GLB → {positions (Z-up local metres), indices, elements: [{globalId, first, count}]}.
  // glTF is Y-up: local (x, y, z) = glTF (x, −z, y), so the map orientation is only the yaw.
  // Every element's indices are rebased on its first vertex: the model is one draw call.
  SW.readGlb = function (buffer) {
    const {doc, bin} = glbChunks(buffer);
    const parts = [];
    for (const node of doc.nodes || []) {
      if (node.mesh == null) continue;
      const globalId = (node.extras && node.extras.global_id) || node.name;
      for (const prim of doc.meshes[node.mesh].primitives) {
        if ((prim.mode != null && prim.mode !== 4) || prim.indices == null) continue; // triangles only
        parts.push({
          globalId,
          positions: accessorArray(doc, bin, prim.attributes.POSITION, FLOAT, 3),
          indices: accessorArray(doc, bin, prim.indices, UNSIGNED_INT, 1),
        });
      }
    }
    const vertexCount = parts.reduce((n, p) => n + p.positions.length / 3, 0);
    const indexCount = parts.reduce((n, p) => n + p.indices.length, 0);
    const positions = new Float32Array(vertexCount * 3);
    const indices = new Uint32Array(indexCount);
    const elements = [];
    let first = 0;
    let at = 0;
    for (const p of parts) {
      const g = p.positions;
      const count = g.length / 3;
      for (let v = 0; v < count; v++) {
        const o = (first + v) * 3;
        positions[o] = g[v * 3];
        positions[o + 1] = -g[v * 3 + 2];
        positions[o + 2] = g[v * 3 + 1];
      }
      for (let k = 0; k < p.indices.length; k++) indices[at + k] = p.indices[k] + first;
      elements.push({globalId: p.globalId, first, count});
      first += count;
      at += p.indices.length;
    }
    return {positions, indices, elements}; // where the GLB's origin lies comes with the model
  };

  // -- colours --------------------------------------------------------------------------------------
  // Each element's vertices take its status colour (0..1; SimpleMeshLayer multiplies them by
  // getColor, white).
  function paint(geometry, statuses) {
    const colors = new Float32Array(geometry.positions.length);
    geometry.elements.forEach((e, i) => {
      const c = SW.pal('status', statuses[i]);
      for (let v = e.first; v < e.first + e.count; v++) {
        colors[v * 3] = c[0] / 255;
        colors[v * 3 + 1] = c[1] / 255;
        colors[v * 3 + 2] = c[2] / 255;
      }
    });
    return colors;
  }

  // -- per model: the GLB once, the elements' windows and status per status date ---------------------
  const records = new Map(); // model_id → record

  function record(model) {
    let rec = records.get(model.model_id);
    if (!rec) {
      rec = {geometry: null, failed: false, props: null, version: 0, requested: undefined,
        loaded: undefined, stamp: null, key: null, mesh: null};
      records.set(model.model_id, rec);
      loadGeometry(model, rec);
    }
    return rec;
  }

  async function loadGeometry(model, rec) {
    try {
      const r = await fetch(model.mesh);
      if (!r.ok) throw new Error(`${model.mesh}: HTTP ${r.status}`);
      rec.geometry = SW.readGlb(await r.arrayBuffer());
      if (!rec.geometry.elements.length) throw new Error(`${model.mesh}: no element has a mesh`);
    } catch (e) {
      console.warn('SiteWatch: mesh', e);
      rec.failed = true; // the layer is left out; the footprints still show the model
    }
    SW.redraw();
  }

  async function loadElements(model, rec, date) {
    rec.requested = date;
    const query = date ? `?date=${date}` : '';
    let props = null;
    try {
      const body = await SW.getJSON(`/viewer/models/${model.model_id}/elements.json${query}`);
      props = new Map(body.elements.map((e) => [e.global_id, e]));
    } catch (e) {
      console.warn('SiteWatch: mesh colours', e);
    }
    if (rec.requested !== date) return; // the slider has moved on: a newer request is out
    rec.loaded = date;
    // Without an answer the mesh still draws: with the last data, or every element unscheduled.
    rec.props = props || rec.props || new Map();
    rec.version += 1;
    SW.redraw();
  }

  // The mesh for the current dates; a new object (so deck.gl uploads the colours again) only when
  // some element changes colour, not at every redraw or slider step.
  function currentMesh(rec) {
    const stamp = `${SW.state.date}|${rec.version}`;
    if (stamp === rec.stamp) return rec.mesh;
    rec.stamp = stamp;
    const statuses = rec.geometry.elements.map((e) => SW.elementStatus(rec.props.get(e.globalId) || {}));
    const key = statuses.join();
    if (key !== rec.key) {
      rec.key = key;
      const g = rec.geometry;
      rec.mesh = {
        attributes: {positions: {value: g.positions, size: 3}, colors: {value: paint(g, statuses), size: 3}},
        indices: {value: g.indices, size: 1},
      };
    }
    return rec.mesh;
  }

  SW.mesh = {
    // Props of a model's mesh layer that is to be drawn: no mesh until its GLB and the
    // elements' data are in (the layer then counts as loading), left out if the GLB failed.
    layerProps(model) {
      const rec = record(model);
      if (rec.failed) return {visible: false};
      if (rec.requested !== SW.state.statusDate) loadElements(model, rec, SW.state.statusDate);
      if (!rec.geometry || !rec.props) return {mesh: null};
      return {mesh: currentMesh(rec)};
    },
    // Some mesh still waits for its GLB or for the status at the status date.
    busy() {
      for (const rec of records.values()) {
        if (!rec.failed && (!rec.geometry || rec.requested !== rec.loaded)) return true;
      }
      return false;
    },
  };
})();
