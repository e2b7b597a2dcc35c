// SiteWatch map page, part 2: the controls (layers, filters, date slider, legend), the side
// panel, the help box and the language toggle.  Strings come from /static/i18n.json.
(function () {
  'use strict';
  const SW = window.SW;
  const $ = (id) => document.getElementById(id);
  const t = (k) => SW.t(k);
  const esc = (v) => String(v == null ? '' : v).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
  const dash = (v) => (v == null || v === '' ? '—' : esc(v));
  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
  const DAY = 86400000;
  const iso = (ms) => new Date(ms).toISOString().slice(0, 10);

  const ui = (SW.ui = {});
  let panelFor = null; // what the panel shows: {kind, key}

  // -- language -------------------------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = SW.state.lang === 'en' ? 'en' : 'zh-CN';
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    document.title = t('title');
    fillFilters();
    renderLayerList();
    renderLegend();
    $('basemap-note').textContent = SW.meta.basemap.url ? '' : t('no_basemap');
    $('attribution').textContent = SW.meta.basemap.attribution || '';
    if (panelFor) panelFor.render();
  }

  // -- controls -------------------------------------------------------------------------------------
  function fillFilters() {
    const opts = (sel, items, current) => {
      sel.innerHTML = `<option value="">${esc(t('all'))}</option>` + items.map(([v, label]) =>
        `<option value="${esc(v)}"${v === current ? ' selected' : ''}>${esc(label)}</option>`).join('');
    };
    const f = SW.state.filters;
    opts($('f-district'), SW.meta.districts.map((d) => [d.code, SW.state.lang === 'en' ? d.name_en : d.name]), f.district);
    opts($('f-stage'), SW.meta.stages.map((s) => [s, t('stage.' + s)]), f.stage);
    opts($('f-type'), SW.meta.types.map((s) => [s, t('type.' + s)]), f.type);
  }
  function renderLayerList() {
    const groups = ['basemap', 'districts', 'projects', 'bim', 'sensors'];
    const present = new Set(SW.baseLayers.map((l) => (SW.meta.layers[l.id] || {}).group));
    $('layer-list').innerHTML = groups.filter((g) => g !== 'basemap' || present.has(g)).map((g) => {
      const on = present.has(g);
      return `<label class="layer ${on ? '' : 'pending'}"><input type="checkbox" data-group="${g}"` +
        `${on && SW.groups[g] !== false ? ' checked' : ''}${on ? '' : ' disabled'}>` +
        `<span>${esc(t('group.' + g))}</span>${on ? '' : `<small>${esc(t('pending'))}</small>`}</label>`;
    }).join('');
  }
  function chips(table, keys, prefix) {
    return '<div class="chips">' + keys.map((k) => `<span class="chip"><i style="background:${
      rgb(SW.meta.palette[table][k])}"></i>${esc(t(prefix + k))}</span>`).join('') + '</div>';
  }
  function renderLegend() {
    const p = SW.meta.palette;
    let html = `<h3>${esc(t('legend.projects_stage'))}</h3>` + chips('stage', Object.keys(p.stage), 'stage.');
    html += `<h3>${esc(t('legend.projects_card'))}</h3>` + chips('card', ['red', 'yellow', 'none'], 'card.');
    if (SW.have.has('bim-elements')) {
      html += `<h3>${esc(t('legend.status'))}</h3>` + chips('status', ['not_started', 'in_progress', 'done', 'on_time', 'ahead',
        'late_start', 'behind', 'late_finish', 'done_late'], 'status.');
    }
    if (SW.have.has('sensors')) {
      html += `<h3>${esc(t('legend.sensors'))}</h3>` + chips('sensor', ['normal', 'warning', 'alarm', 'offline'], 'sensor.');
    }
    $('legend').innerHTML = html;
  }

  ui.initDate = function () {
    const today = new Date().toISOString().slice(0, 10);
    const sch = SW.meta.schedule;
    const start = Date.parse(sch ? sch.start : iso(Date.now() - 365 * DAY));
    const finish = Date.parse(sch ? sch.finish : iso(Date.now() + 365 * DAY));
    const slider = $('date-slider');
    slider.max = String(Math.max(1, Math.round((finish - start) / DAY)));
    const clamp = Math.min(Math.max(Date.parse(today), start), finish);
    slider.value = String(Math.round((clamp - start) / DAY));
    ui.dateStart = start;
    SW.state.date = iso(clamp);
    SW.state.statusDate = SW.state.date;
    $('date-out').textContent = SW.state.date;
    $('date-min').textContent = iso(start);
    $('date-max').textContent = iso(finish);
    $('date-section').hidden = !SW.have.has('bim-elements');
  };
  ui.setDate = function (isoDate) {
    const slider = $('date-slider');
    const v = Math.round((Date.parse(isoDate) - ui.dateStart) / DAY);
    slider.value = String(Math.min(Math.max(v, 0), +slider.max));
    slider.dispatchEvent(new Event('input'));
  };
  // The schedule replays at once from each element's planned window; the reported status at
  // the date comes from the server once the slider rests (elements.json?date=).
  let statusTimer = null;
  function onDate() {
    SW.state.date = iso(ui.dateStart + +$('date-slider').value * DAY);
    $('date-out').textContent = SW.state.date;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => {
      SW.state.statusDate = SW.state.date;
      SW.redraw();
    }, 400);
    SW.redraw();
  }
  let playing = null;
  function togglePlay() {
    const slider = $('date-slider');
    if (playing) {
      clearInterval(playing);
      playing = null;
    } else {
      if (+slider.value >= +slider.max) slider.value = '0';
      playing = setInterval(() => {
        slider.value = String(Math.min(+slider.value + 7, +slider.max));
        onDate();
        if (+slider.value >= +slider.max) togglePlay();
      }, 300);
    }
    $('play-btn').textContent = t(playing ? 'pause' : 'play');
  }

  // -- panel ----------------------------------------------------------------------------------------
  function openPanel(render) {
    panelFor = {render};
    render();
    $('panel').hidden = false;
    document.body.classList.add('panel-open');
  }
  ui.closePanel = function () {
    panelFor = null;
    $('panel').hidden = true;
    document.body.classList.remove('panel-open');
  };
  const row = (k, v) => `<tr><th>${esc(t(k))}</th><td>${v}</td></tr>`;
  const pct = (v) => (v == null ? '—' : `${SW.formatNumber(+v * 100, 1)}%`);
  function alarmsFor(code) {
    if (!SW.have.has('sensors')) return `<p class="muted">${esc(t('alarms_unavailable'))}</p>`;
    const list = (SW.state.openAlarms || []).filter((a) => a.project_code === code);
    if (!list.length) return `<p class="muted">${esc(t('no_alarms'))}</p>`;
    return '<ul class="alarms">' + list.map((a) => `<li><b>${esc(a.sensor_code)}</b> ${esc(a.level || '')}` +
      ` <span class="muted">${esc((a.opened_at || '').replace('T', ' ').slice(0, 16))}</span></li>`).join('') + '</ul>';
  }

  ui.openProject = async function (code) {
    const state = {p: null, names: {}, error: null};
    const render = () => {
      const p = state.p;
      if (!p) {
        $('panel-body').innerHTML = state.error ? `<p class="error">${esc(state.error)}</p>` : `<p>${esc(t('loading'))}</p>`;
        return;
      }
      const c = SW.projectColour(p);
      const district = SW.meta.districts.find((d) => d.code === p.district_code);
      const party = (f) => p[f] ? `${esc(state.names[p[f]] || '')}<br><span class="mono">${esc(p[f])}</span>` : '—';
      const card = p.card ? `<span class="badge" style="background:${rgb(SW.meta.palette.card[p.card] || c)}">${esc(t('card.' + p.card))}</span>` : '—';
      const hz = (p.hazardous_works || []).map((h) => `<li>${esc(t('hz.' + h.category))}${h.beyond_scale ?
        ` <span class="tag">${esc(t('beyond_scale'))}</span>` : ''}<br><span class="muted">${esc(h.description || '')}</span></li>`).join('');
      $('panel-body').innerHTML = `
        <h2 class="p-name">${esc(p.name)}</h2>
        <div class="p-code mono">${esc(p.code)}</div>
        <div class="badges"><span class="badge" style="background:${rgb(c)}">${esc(t('stage.' + p.stage))}</span>
          <span class="badge light">${esc(t('type.' + p.type))}</span>
          <span class="badge light">${esc(district ? (SW.state.lang === 'en' ? district.name_en : district.name) : p.district_code)}</span>
          ${p.key_livelihood ? `<span class="badge light">${esc(t('kl.' + p.key_livelihood))}</span>` : ''}</div>
        <h3>${esc(t('panel.progress'))}</h3>
        <div class="kpis">
          <div><span>${esc(t('f.pv'))}</span><b>${pct(p.pv)}</b></div>
          <div><span>${esc(t('f.ev'))}</span><b>${pct(p.ev)}</b></div>
          <div><span>${esc(t('f.spi'))}</span><b>${p.spi == null ? '—' : SW.formatNumber(p.spi, 2)}</b></div>
          <div><span>${esc(t('f.card'))}</span><b>${card}</b></div>
        </div>
        <div class="muted">${esc(t('f.image_progress'))}: ${dash(p.image_progress)}</div>
        <h3>${esc(t('panel.alarms'))}</h3>${alarmsFor(p.code)}
        <h3>${esc(t('panel.ledger'))}</h3>
        <table class="kv">
          ${row('f.address', dash(p.address))}${row('f.permit_no', `<span class="mono">${dash(p.permit_no)}</span>`)}
          ${row('f.investment', SW.formatNumber(p.investment))}${row('f.floor_area', SW.formatNumber(p.floor_area))}
          ${row('f.storeys', dash(p.storeys))}
          ${row('f.planned', `${dash(p.planned_start)} → ${dash(p.planned_finish)}`)}
          ${row('f.actual', `${dash(p.actual_start)} → ${dash(p.actual_finish)}`)}
          ${row('f.project_manager', dash(p.project_manager))}${row('f.chief_supervisor', dash(p.chief_supervisor))}
        </table>
        <h3>${esc(t('panel.parties'))}</h3>
        <table class="kv">${['construction_unit', 'contractor_unit', 'supervision_unit', 'survey_unit', 'design_unit']
          .map((f) => row('f.' + f, party(f))).join('')}</table>
        ${hz ? `<h3>${esc(t('panel.hazards'))}</h3><ul class="hz">${hz}</ul>` : ''}
        <div class="links">
          <a class="btn primary" target="_blank" href="/api/v1/projects/${encodeURIComponent(p.code)}/deviation?format=html">${esc(t('panel.report'))}</a>
          <a class="btn" target="_blank" href="/ogc/collections/projects/items/${encodeURIComponent(p.code)}?f=json">${esc(t('panel.feature'))}</a>
        </div>`;
    };
    openPanel(render);
    try {
      const r = await fetch(`/api/v1/projects/${encodeURIComponent(code)}`);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      state.p = await r.json();
      render();
      const codes = ['construction_unit', 'contractor_unit', 'supervision_unit', 'survey_unit', 'design_unit']
        .map((f) => state.p[f]).filter(Boolean);
      if (codes.length) {
        state.names = await (await fetch(`/viewer/parties?codes=${codes.map(encodeURIComponent).join(',')}`)).json();
        render();
      }
    } catch (e) {
      state.error = `${code}: ${e.message}`;
      render();
    }
  };

  ui.openElement = function (p) {
    openPanel(() => {
      const st = SW.elementStatus(p);
      $('panel-body').innerHTML = `<h3>${esc(t('panel.element'))}</h3><h2>${esc(p.name || p.ifc_class)}</h2>
        <div class="badges"><span class="badge" style="background:${rgb(SW.meta.palette.status[st])}">${esc(t('status.' + st))}</span>
        <span class="badge light">${esc(SW.state.date)}</span></div>
        <table class="kv">${row('f.ifc_class', esc(p.ifc_class))}${row('f.storey', dash(p.storey))}
        ${row('f.global_id', `<span class="mono">${esc(p.global_id)}</span>`)}
        ${row('f.planned_window', `${dash(p.planned_start)} → ${dash(p.planned_finish)}`)}
        ${row('f.code', `<a href="#" data-project="${esc(p.project_code)}">${esc(p.project_code)}</a>`)}</table>`;
    });
  };

  ui.openSensor = function (s) {
    const key = s.id;
    openPanel(() => {
      const d = SW.state.sensors.find((x) => x.id === key) || s;
      const st = SW.sensorState(d);
      $('panel-body').innerHTML = `<h3>${esc(t('panel.sensor'))}</h3><h2 class="mono">${esc(d.code)}</h2>
        <div class="badges"><span class="badge" style="background:${rgb(SW.meta.palette.sensor[st])}">${esc(t('sensor.' + st))}</span></div>
        <div class="kpis one"><div><span>${esc(t('f.value'))}</span><b class="sensor-value">${SW.formatNumber(d.value)} ${esc(d.unit || '')}</b></div></div>
        <table class="kv">${row('f.kind', esc(d.kind))}${row('f.ts', dash((d.ts || '').replace('T', ' ').slice(0, 19)))}
        ${row('f.code', `<a href="#" data-project="${esc(d.project_code)}">${esc(d.project_code)}</a>`)}</table>
        <div class="links"><a class="btn" target="_blank" href="/api/v1/sensors/${encodeURIComponent(key)}/readings?bucket=1h">${esc(t('panel.readings'))}</a></div>`;
    });
  };

  ui.sensorsUpdated = function () {
    $('live').hidden = false;
    $('live-time').textContent = new Date().toLocaleTimeString(SW.state.lang === 'en' ? 'en-GB' : 'zh-CN', {hour12: false});
    const n = SW.state.alarms.length;
    const badge = $('alarm-badge');
    badge.hidden = n === 0;
    badge.textContent = `${n} ${t('alarm_count')}`;
    if (panelFor) panelFor.render();
  };

  ui.notice = function (text) {
    const n = $('notice');
    n.textContent = text;
    n.hidden = false;
    setTimeout(() => (n.hidden = true), 6000);
  };

  ui.init = function () {
    applyLang();
    $('lang-btn').addEventListener('click', () => {
      SW.state.lang = SW.state.lang === 'zh' ? 'en' : 'zh';
      localStorage.setItem('sitewatch.lang', SW.state.lang);
      applyLang();
      SW.redraw();
    });
    $('layer-list').addEventListener('change', (e) => {
      SW.groups[e.target.dataset.group] = e.target.checked;
      SW.redraw();
    });
    for (const [id, key] of [['f-district', 'district'], ['f-stage', 'stage'], ['f-type', 'type']]) {
      $(id).addEventListener('change', (e) => {
        SW.state.filters[key] = e.target.value;
        SW.redraw();
      });
    }
    $('date-slider').addEventListener('input', onDate);
    $('play-btn').addEventListener('click', togglePlay);
    $('panel-close').addEventListener('click', ui.closePanel);
    $('panel-body').addEventListener('click', (e) => {
      const code = e.target.dataset && e.target.dataset.project;
      if (code) {
        e.preventDefault();
        ui.openProject(code);
      }
    });
    $('help-btn').addEventListener('click', () => ($('help').hidden = false));
    $('help-close').addEventListener('click', () => ($('help').hidden = true));
    $('help').addEventListener('click', (e) => { if (e.target.id === 'help') $('help').hidden = true; });
    $('home-btn').addEventListener('click', () => SW.flyTo({...SW.meta.home, pitch: 35, bearing: 0}));
    $('toggle-controls').addEventListener('click', () => document.body.classList.toggle('controls-open'));
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { ui.closePanel(); $('help').hidden = true; }
    });
  };
})();
