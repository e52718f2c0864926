// The Timeline view: everything on the server, newest first, grouped by the local day of
// `fileCreatedAt`, in a grid of square tiles. It is virtualised, so a library of 100,000
// assets scrolls like one of 100:
//
// - Pages load by cursor (`GET /api/assets?limit&cursor`) as the end of what is loaded
//   scrolls near. Only a compact record of each asset is kept.
// - The layout (days, their heading and rows of tiles) is computed from the item count
//   and the grid's width, so the page is as tall as everything loaded without a node
//   per asset. Only the days and rows within a screen of the viewport are in the DOM;
//   each visible day is a `section.day` with its heading and one list of its visible
//   tiles. Tiles leave the DOM as they scroll away.
// - Thumbnails come first: the server's `/thumbnail` (fetched with the x-api-key header,
//   since keys never go in URLs) for visible tiles only, a few at a time, kept as
//   object URLs in a bounded cache. Images the server cannot make one of are drawn in
//   the browser from the original when small enough.
//   A fling does not fetch them: they are asked for once the scroll slows or stops.
// - A frame's work stays small (e2e/timeline.test.mjs holds every task while scrolling
//   under 100 ms): rows change only at the ends of each day's list, days and tiles are
//   laid out in containment (style.css), and the grid ignores the pointer while the page
//   scrolls, so the tile sliding under it is not hit-tested and restyled for hover.
// - Tapping a tile opens the full view, which downloads the original with a progress bar.
import { bytes, count, dayKey, dayLabel, typeLabel, when } from '../lib/format.js';

const $ = (id) => document.getElementById(id);

/** The first page is small so that the first screen shows soon; later ones are large. */
const FIRST_PAGE = 200;
const PAGE = 1000;
/** Thumbnails kept as object URLs at once; the oldest off-screen ones are dropped. */
const MAX_THUMBS = 400;
/** Thumbnails fetched at once. */
const PARALLEL = 6;
/** Larger originals are not downloaded just to draw a thumbnail in the browser. */
const MAX_THUMB_SOURCE = 40 * 1024 * 1024;
/** Thumbnail edge in CSS pixels, times the device pixel ratio, when drawn here. */
const THUMB_EDGE = 200;
/** A day's heading row and the space after a day, in CSS pixels (see style.css). */
const HEAD_H = 40;
const DAY_GAP = 18;
/** The next page loads when the end of what is loaded is this many screens away. */
const LOAD_AHEAD = 3;
/** Scrolling faster than this many screens a second is a fling: thumbnails wait. */
const FLING = 2;
/** How long after the last scroll the grid takes the pointer again (hover, hit tests). */
const SCROLL_IDLE_MS = 150;

/** The grid of a container `width` px wide: `{cols, gap, tile, row}` (as style.css lays it). */
function gridFor(width) {
  const phone = width < 560;
  const gap = phone ? 2 : 4;
  const min = width >= 1000 ? 180 : 150;
  const cols = phone ? 3 : Math.max(1, Math.floor((width + gap) / (min + gap)));
  const tile = Math.max(1, (width - gap * (cols - 1)) / cols);
  return { cols, gap, tile, row: tile + gap };
}

/** The first index in the sorted array `days` whose day ends below `y`. */
function firstDayBelow(days, y) {
  let lo = 0;
  let hi = days.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (days[mid].top + days[mid].height <= y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class TimelineView {
  constructor({ api, announce }) {
    this.api = api;
    this.stale = true;
    this.generation = 0;
    this.viewer = new Viewer(api, (item) => {
      announce?.(`${item.originalFileName} moved to the trash.`);
      this.reload();
    });
    this.container = $('timeline-days');
    this.frame = 0;
    this.idle = 0;
    this.onScroll = () => {
      // While the page scrolls, the grid does not follow the pointer: every frame would
      // otherwise hit-test and restyle the tile that slid under it for its hover state.
      if (!this.idle) this.container.classList.add('scrolling');
      clearTimeout(this.idle);
      this.idle = setTimeout(() => {
        this.idle = 0;
        this.container.classList.remove('scrolling');
        this.pump();
      }, SCROLL_IDLE_MS);
      this.schedule();
    };
    this.resizer = new ResizeObserver(() => this.relayout());
    this.container.addEventListener('click', (e) => {
      const tile = e.target.closest('.tile');
      if (tile) this.viewer.open(this.items[this.index.get(tile.dataset.id)]);
    });
    this.reset();
  }

  /** New uploads landed: reload when next shown. */
  markStale() { this.stale = true; }

  show() {
    addEventListener('scroll', this.onScroll, { passive: true });
    this.resizer.observe(this.container);
    if (this.stale) this.reload();
    else this.relayout();
  }

  hide() {
    removeEventListener('scroll', this.onScroll);
    this.resizer.disconnect();
    clearTimeout(this.idle);
    this.idle = 0;
    this.container.classList.remove('scrolling');
  }

  reset() {
    this.generation += 1;
    for (const url of this.thumbs?.values() ?? []) URL.revokeObjectURL(url);
    this.items = []; // compact records, newest first
    this.index = new Map(); // asset id → position in items
    this.days = []; // { key, label, start, count, top, height }
    this.grid = null;
    this.sections = new Map(); // index in days → { section, list } in the DOM
    this.tiles = new Map(); // asset id → li in the DOM
    this.thumbs = new Map(); // asset id → object URL, oldest first
    this.queue = []; // asset ids waiting for a thumbnail
    this.inFlight = 0;
    this.cursor = undefined; // undefined: not loaded; null: no more pages
    this.loading = false;
    this.lastRender = null; // { offset, at } of the last render, for the scroll's speed
    this.container.replaceChildren();
    this.container.style.height = '0px';
    $('timeline-empty').hidden = true;
    $('timeline-error').hidden = true;
  }

  reload() {
    this.stale = false;
    this.reset();
    this.loadMore();
  }

  async loadMore() {
    if (this.loading || this.cursor === null || $('timeline').hidden) return;
    this.loading = true;
    const generation = this.generation;
    const more = $('timeline-more');
    more.classList.add('loading');
    let loaded = false;
    try {
      const page = await this.api.assets(this.cursor === undefined ? FIRST_PAGE : PAGE, this.cursor);
      if (generation !== this.generation) return;
      this.cursor = page.nextCursor ?? null;
      this.append(page.items);
      loaded = true;
      $('timeline-error').hidden = true;
      $('timeline-empty').hidden = this.items.length > 0;
      const n = this.items.length;
      $('timeline-count').textContent = n === 0 ? ''
        : `${count(n)}${this.cursor ? '+' : ''} ${n === 1 ? 'item' : 'items'}`;
    } catch (e) {
      if (generation !== this.generation) return;
      $('timeline-error').textContent = navigator.onLine
        ? `Could not load the timeline: ${e.message}`
        : 'You are offline. The timeline loads when you are back online.';
      $('timeline-error').hidden = false;
      this.stale = true;
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        more.classList.toggle('loading', false);
        more.hidden = this.cursor === null;
        // A short page may leave the end on screen: render, which asks for the next.
        if (loaded) this.schedule();
      }
    }
  }

  /** Adds a page of items (newest first) to the layout. */
  append(page) {
    const grid = this.currentGrid();
    for (const raw of page) {
      if (this.index.has(raw.id)) continue;
      const date = new Date(raw.fileCreatedAt ?? raw.fileModifiedAt ?? Date.now());
      const item = {
        id: raw.id,
        originalFileName: raw.originalFileName,
        mimeType: raw.mimeType,
        fileSize: raw.fileSize,
        hasThumbnail: raw.hasThumbnail,
        date,
      };
      const key = dayKey(date);
      let day = this.days.at(-1);
      if (!day || day.key !== key) {
        const top = day ? day.top + day.height : 0;
        day = { key, label: dayLabel(date), start: this.items.length, count: 0, top, height: 0 };
        this.days.push(day);
      }
      this.index.set(item.id, this.items.length);
      this.items.push(item);
      day.count += 1;
      day.height = this.dayHeight(day.count, grid);
    }
    this.container.style.height = `${this.totalHeight()}px`;
  }

  dayHeight(n, grid) { return HEAD_H + Math.ceil(n / grid.cols) * grid.row - grid.gap + DAY_GAP; }

  totalHeight() {
    const last = this.days.at(-1);
    return last ? last.top + last.height : 0;
  }

  currentGrid() {
    if (!this.grid) this.setGrid(gridFor(this.container.clientWidth || innerWidth));
    return this.grid;
  }

  setGrid(grid) {
    this.grid = grid;
    this.container.style.setProperty('--cols', String(grid.cols));
    this.container.style.setProperty('--gap', `${grid.gap}px`);
    this.container.style.setProperty('--tile-size', `${grid.tile}px`);
  }

  /** The width changed (rotation, a resized window): lay every day out again. */
  relayout() {
    if ($('timeline').hidden || !this.container.clientWidth) return;
    const grid = gridFor(this.container.clientWidth);
    if (this.grid && grid.cols === this.grid.cols && Math.abs(grid.tile - this.grid.tile) < 0.5) {
      this.schedule();
      return;
    }
    // Keep the asset at the top of the screen in place.
    const anchor = this.itemAt(-this.container.getBoundingClientRect().top);
    this.setGrid(grid);
    let top = 0;
    for (const day of this.days) {
      day.top = top;
      day.height = this.dayHeight(day.count, grid);
      top += day.height;
    }
    this.container.style.height = `${top}px`;
    for (const { section } of this.sections.values()) section.remove();
    this.sections.clear();
    this.tiles.clear();
    if (anchor !== null) {
      const y = this.itemTop(anchor);
      scrollTo(0, y + this.container.getBoundingClientRect().top + scrollY - stickyTop());
    }
    this.render();
  }

  /** The index of the first item on the row at `y` px into the grid, or null. */
  itemAt(y) {
    if (!this.grid || this.days.length === 0 || y <= 0) return null;
    const day = this.days[Math.min(firstDayBelow(this.days, y), this.days.length - 1)];
    const row = Math.max(0, Math.floor((y - day.top - HEAD_H) / this.grid.row));
    return Math.min(day.start + row * this.grid.cols, day.start + day.count - 1);
  }

  itemTop(i) {
    let lo = 0;
    let hi = this.days.length - 1;
    while (lo < hi) { // the last day starting at or before item i
      const mid = (lo + hi + 1) >> 1;
      if (this.days[mid].start <= i) lo = mid;
      else hi = mid - 1;
    }
    const day = this.days[lo];
    return day.top + HEAD_H + Math.floor((i - day.start) / this.grid.cols) * this.grid.row;
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Puts the days and rows within a screen of the viewport in the DOM, and no others. */
  render() {
    const grid = this.currentGrid();
    const screen = innerHeight;
    const offset = -this.container.getBoundingClientRect().top;
    const from = offset - screen / 2;
    const to = offset + 1.5 * screen;
    const wanted = new Set();
    const shown = new Set();
    for (let d = firstDayBelow(this.days, Math.max(0, from)); d < this.days.length; d += 1) {
      const day = this.days[d];
      if (day.top >= to) break;
      wanted.add(d);
      const rows = Math.ceil(day.count / grid.cols);
      const first = Math.max(0, Math.floor((from - day.top - HEAD_H) / grid.row));
      const last = Math.min(rows - 1, Math.floor((to - day.top - HEAD_H) / grid.row));
      const start = day.start + first * grid.cols;
      const end = Math.min(day.start + day.count, day.start + (last + 1) * grid.cols);
      this.renderDay(d, first, start, end, shown);
    }
    for (const [d, { section }] of this.sections) {
      if (!wanted.has(d)) { section.remove(); this.sections.delete(d); }
    }
    for (const id of this.tiles.keys()) if (!shown.has(id)) this.tiles.delete(id);
    this.queue = this.queue.filter((id) => this.tiles.has(id));
    // A fling passes tiles in a fraction of a second: their thumbnails would arrive for
    // tiles already gone, and their fetches and decodes would take frames from the
    // scroll. They are asked for once the scroll slows down (or stops, see onScroll).
    const now = performance.now();
    const speed = this.lastRender ? Math.abs(offset - this.lastRender.offset) / screen / Math.max(1, now - this.lastRender.at) * 1000 : 0;
    this.lastRender = { offset, at: now };
    if (speed < FLING) this.pump();
    if (this.cursor && to + LOAD_AHEAD * screen > this.totalHeight()) this.loadMore();
  }

  renderDay(d, firstRow, start, end, shown) {
    const day = this.days[d];
    let entry = this.sections.get(d);
    if (!entry) {
      const section = document.createElement('section');
      section.className = 'day';
      section.dataset.day = day.key;
      section.dataset.index = String(d);
      const heading = document.createElement('h2');
      heading.textContent = day.label;
      heading.id = `day-${d}`;
      section.setAttribute('aria-labelledby', heading.id);
      const list = document.createElement('ul');
      list.className = 'grid';
      section.append(heading, list);
      entry = { section, list };
      this.sections.set(d, entry);
      // Sections stay in the DOM in day order (newest first), so reading and Tab order
      // follow the screen.
      const next = [...this.container.children].find((s) => Number(s.dataset.index) > d);
      this.container.insertBefore(section, next ?? null);
    }
    entry.section.style.top = `${day.top}px`;
    entry.section.style.height = `${day.height - DAY_GAP}px`;
    // The list moves with transform (no layout) and changes only at its ends: the tiles
    // that stay are not touched, so their images are not decoded again.
    entry.list.style.transform = `translateY(${HEAD_H + firstRow * this.grid.row}px)`;
    const was = entry.range ?? [start, start];
    const li = (i) => {
      const item = this.items[i];
      let el = this.tiles.get(item.id);
      if (!el) {
        el = this.tile(item);
        this.tiles.set(item.id, el);
      }
      shown.add(item.id);
      return el;
    };
    if (end <= was[0] || start >= was[1]) {
      const lis = [];
      for (let i = start; i < end; i += 1) lis.push(li(i));
      entry.list.replaceChildren(...lis);
    } else {
      const list = entry.list;
      for (let i = was[0]; i < start; i += 1) list.firstChild.remove();
      for (let i = end; i < was[1]; i += 1) list.lastChild.remove();
      const before = [];
      for (let i = start; i < Math.max(start, was[0]); i += 1) before.push(li(i));
      for (let i = Math.max(start, was[0]); i < Math.min(end, was[1]); i += 1) li(i);
      const after = [];
      for (let i = Math.max(start, was[1]); i < end; i += 1) after.push(li(i));
      if (before.length) list.prepend(...before);
      if (after.length) list.append(...after);
    }
    entry.range = [start, end];
  }

  tile(item) {
    const li = document.createElement('li');
    const tile = document.createElement('button');
    tile.type = 'button';
    tile.className = 'tile';
    tile.dataset.id = item.id;
    const isImage = item.mimeType?.startsWith('image/');
    const isVideo = item.mimeType?.startsWith('video/');
    tile.dataset.kind = isImage ? 'image' : isVideo ? 'video' : 'file';
    const kind = typeLabel(item.mimeType, item.originalFileName);
    // The name says what the tile shows, in its order (the name, then the type badge
    // that CSS draws above it), so that what is seen is what a screen reader says. Kept
    // with the item: a tile scrolled back into view is made again, and dates format slowly.
    item.label ??= `${item.originalFileName}, ${kind}${isVideo ? '' : isImage ? ' photo' : ' file'}, ${when(item.date)}`;
    tile.setAttribute('aria-label', item.label);
    const label = document.createElement('span');
    label.className = 'tile-label';
    const type = document.createElement('span');
    type.className = 'tile-type';
    type.textContent = kind;
    const name = document.createElement('span');
    name.className = 'tile-name';
    name.textContent = item.originalFileName;
    label.append(name, ' ', type); // a space, so the words do not run together
    tile.append(label);
    li.append(tile);
    const url = this.thumbs.get(item.id);
    if (url) {
      // Seen before: shown at once, and now the most recently used.
      this.thumbs.delete(item.id);
      this.thumbs.set(item.id, url);
      this.showThumb(tile, url);
    } else if (item.thumb !== 'none' && thumbSource(item)) {
      tile.dataset.thumb = 'queued';
      this.queue.push(item.id);
    }
    return li;
  }

  showThumb(tile, url) {
    const img = document.createElement('img');
    img.alt = '';
    img.decoding = 'async';
    img.src = url;
    tile.prepend(img);
    tile.dataset.thumb = 'shown';
  }

  pump() {
    while (this.inFlight < PARALLEL && this.queue.length > 0) {
      const id = this.queue.shift();
      this.inFlight += 1;
      const generation = this.generation;
      this.thumbnail(id, generation).finally(() => {
        if (generation !== this.generation) return;
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  async thumbnail(id, generation) {
    const item = this.items[this.index.get(id)];
    const tileOf = () => this.tiles.get(id)?.firstChild;
    if (tileOf()) tileOf().dataset.thumb = 'loading';
    let url;
    try {
      const blob = thumbSource(item) === 'server'
        ? await (await this.api.thumbnail(id)).blob().then((b) => new Blob([b], { type: pageSafeType(b.type) }))
        : await shrink(await (await this.api.original(id)).blob(), THUMB_EDGE * Math.min(devicePixelRatio || 1, 2));
      url = URL.createObjectURL(blob);
    } catch {
      // Undecodable, or offline: the tile keeps its label.
      if (generation === this.generation) {
        item.thumb = 'none';
        if (tileOf()) tileOf().dataset.thumb = 'none';
      }
      return;
    }
    if (generation !== this.generation) { URL.revokeObjectURL(url); return; }
    this.thumbs.set(id, url);
    const tile = tileOf();
    if (tile) this.showThumb(tile, url);
    this.evict();
  }

  /** Drops the least recently used thumbnails that are off-screen, beyond MAX_THUMBS. */
  evict() {
    for (const [id, url] of this.thumbs) {
      if (this.thumbs.size <= MAX_THUMBS) break;
      if (this.tiles.has(id)) continue;
      URL.revokeObjectURL(url);
      this.thumbs.delete(id);
    }
  }
}

/** Where a tile's thumbnail comes from: 'server', 'original' (drawn here), or null. */
function thumbSource(item) {
  if (item.hasThumbnail) return 'server';
  const mime = item.mimeType ?? '';
  // Chromium decodes neither HEIC nor video frames from a Blob in a worker-free way.
  if (!mime.startsWith('image/') || /hei[cf]/.test(mime)) return null;
  return item.fileSize <= MAX_THUMB_SOURCE ? 'original' : null;
}

/**
 * The type a blob of a backed-up file is given in this page. A blob: URL has the app's
 * origin, and one opened in a tab ("Open image in new tab") is rendered as its type: an
 * SVG, HTML or XML file there would be a document of ferry's own origin. Only the photo
 * and video types ferry shows keep theirs; anything else is plain bytes, with no preview.
 */
function pageSafeType(mime) {
  return /^(image\/(?!svg)[\w.+-]+|video\/[\w.+-]+)$/i.test(mime ?? '') ? mime : 'application/octet-stream';
}

/** How far the sticky app bar covers the top of the page. */
function stickyTop() {
  return document.querySelector('.app-bar')?.offsetHeight ?? 0;
}

/** Decodes an image and redraws it so its shorter edge is `edge` pixels, as a JPEG. */
async function shrink(blob, edge) {
  const bitmap = await createImageBitmap(blob);
  try {
    const scale = Math.min(1, edge / Math.min(bitmap.width, bitmap.height));
    const w = Math.max(1, Math.round(bitmap.width * scale));
    const h = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(w, h);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, w, h);
    return await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.82 });
  } finally {
    bitmap.close();
  }
}

/** The full view: downloads the original with a progress bar, then shows it. */
class Viewer {
  constructor(api, onDeleted) {
    this.api = api;
    this.dialog = $('viewer');
    this.url = null;
    this.downloadUrl = null;
    this.abort = null;
    this.item = null;
    $('viewer-close').addEventListener('click', () => this.dialog.close());
    $('viewer-delete').addEventListener('click', async () => {
      const item = this.item;
      if (!item) return;
      $('viewer-delete').disabled = true;
      try {
        await this.api.fetch(`/assets/${encodeURIComponent(item.id)}`, { method: 'DELETE' });
        this.dialog.close();
        onDeleted(item);
      } catch (e) {
        $('viewer-progress-text').textContent = `Could not move it to the trash: ${e.message}`;
      } finally {
        $('viewer-delete').disabled = false;
      }
    });
    this.dialog.addEventListener('close', () => this.clear());
    this.dialog.addEventListener('click', (e) => { if (e.target === this.dialog) this.dialog.close(); });
  }

  clear() {
    this.item = null;
    this.abort?.abort();
    this.abort = null;
    for (const url of [this.url, this.downloadUrl]) if (url) URL.revokeObjectURL(url);
    this.url = null;
    this.downloadUrl = null;
    $('viewer-body').querySelector('.viewer-media')?.remove();
    $('viewer-download').hidden = true;
    $('viewer-download').removeAttribute('href');
  }

  async open(item) {
    if (!item) return;
    this.clear();
    this.item = item;
    const date = item.date;
    $('viewer-name').textContent = item.originalFileName;
    $('viewer-meta').textContent = `${when(date)} · ${bytes(item.fileSize)}`;
    const loading = $('viewer-loading');
    const progress = $('viewer-progress');
    const text = $('viewer-progress-text');
    loading.hidden = false;
    progress.removeAttribute('value');
    text.textContent = 'Downloading…';
    this.dialog.showModal();

    const abort = new AbortController();
    this.abort = abort;
    try {
      const res = await this.api.original(item.id, { signal: abort.signal });
      const total = Number(res.headers.get('content-length')) || item.fileSize || 0;
      const reader = res.body.getReader();
      const parts = [];
      let received = 0;
      let lastPaint = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        received += value.byteLength;
        if (total && performance.now() - lastPaint > 100) {
          lastPaint = performance.now();
          progress.max = total;
          progress.value = received;
          text.textContent = `${bytes(received)} / ${bytes(total)}`;
        }
      }
      if (abort.signal.aborted) return;
      const type = pageSafeType(item.mimeType);
      const blob = new Blob(parts, { type });
      this.url = URL.createObjectURL(blob);
      // The Download link's blob is plain bytes whatever the file is: opened in a tab it
      // is saved, never rendered (the same bytes, not copied).
      this.downloadUrl = URL.createObjectURL(new Blob([blob], { type: 'application/octet-stream' }));
      let media;
      if (type.startsWith('image/')) {
        media = document.createElement('img');
        media.alt = item.originalFileName;
        media.src = this.url;
      } else if (type.startsWith('video/')) {
        media = document.createElement('video');
        media.controls = true;
        media.playsInline = true;
        media.src = this.url;
        media.setAttribute('aria-label', item.originalFileName);
      } else {
        media = document.createElement('p');
        media.textContent = 'No preview for this kind of file. Use Download to save it.';
      }
      media.classList.add('viewer-media');
      if (media.tagName === 'IMG') {
        media.addEventListener('error', () => {
          const p = document.createElement('p');
          p.className = 'viewer-media';
          p.textContent = 'This browser cannot show this image. Use Download to save it.';
          media.replaceWith(p);
        }, { once: true });
      }
      loading.hidden = true;
      $('viewer-body').append(media);
      const download = $('viewer-download');
      download.href = this.downloadUrl;
      download.download = item.originalFileName;
      download.hidden = false;
    } catch (e) {
      if (abort.signal.aborted) return;
      progress.value = 0;
      text.textContent = navigator.onLine ? `Could not download: ${e.message}` : 'You are offline.';
    }
  }
}
