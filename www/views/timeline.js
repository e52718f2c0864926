// The Timeline view: everything on the server, newest first, grouped by the local day of
// `fileCreatedAt`, in a grid of square tiles. Pages load by cursor as the end of the list
// scrolls near. Images get a thumbnail made in the browser from `/original` (fetched with
// the x-api-key header) once their tile scrolls near the viewport; the object URLs are
// kept in a bounded cache and revoked when dropped. Tapping a tile opens the full view.
import { bytes, count, dayKey, dayLabel, typeLabel, when } from '../lib/format.js';

const $ = (id) => document.getElementById(id);

const PAGE = 200;
/** Thumbnails kept as object URLs at once; the oldest off-screen ones are dropped. */
const MAX_THUMBS = 300;
/** Originals fetched at once for thumbnails. */
const PARALLEL = 4;
/** Larger originals are not downloaded just to draw a thumbnail. */
const MAX_THUMB_SOURCE = 40 * 1024 * 1024;
/** Thumbnail edge in CSS pixels, times the device pixel ratio. */
const THUMB_EDGE = 200;

export class TimelineView {
  constructor({ api }) {
    this.api = api;
    this.stale = true;
    this.generation = 0;
    this.viewer = new Viewer(api);
    this.tileObserver = new IntersectionObserver((entries) => this.tilesMoved(entries), { rootMargin: '600px 0px' });
    this.pageObserver = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadMore();
    }, { rootMargin: '1200px 0px' });
    $('timeline-days').addEventListener('click', (e) => {
      const tile = e.target.closest('.tile');
      if (tile) this.viewer.open(this.items.get(tile.dataset.id), tile);
    });
    this.reset();
  }

  /** New uploads landed: reload when next shown. */
  markStale() { this.stale = true; }

  show() {
    if (this.stale) this.reload();
    this.pageObserver.observe($('timeline-more'));
  }

  hide() { this.pageObserver.disconnect(); }

  reset() {
    this.generation += 1;
    for (const url of this.thumbs?.values() ?? []) URL.revokeObjectURL(url);
    this.tileObserver.disconnect();
    this.items = new Map();
    this.days = new Map(); // day key → { section, grid }
    this.tiles = new Map(); // asset id → tile button
    this.thumbs = new Map(); // asset id → object URL, oldest first
    this.visible = new Set();
    this.queue = [];
    this.inFlight = 0;
    this.cursor = undefined; // undefined: not loaded; null: no more pages
    this.loading = false;
    $('timeline-days').replaceChildren();
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
    try {
      const page = await this.api.assets(PAGE, this.cursor);
      if (generation !== this.generation) return;
      this.cursor = page.nextCursor ?? null;
      for (const item of page.items) this.add(item);
      $('timeline-error').hidden = true;
      $('timeline-empty').hidden = this.items.size > 0;
      $('timeline-count').textContent = this.items.size === 0 ? ''
        : `${count(this.items.size)}${this.cursor ? '+' : ''} ${this.items.size === 1 ? 'item' : 'items'}`;
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
        // Observing again reports the sentinel's position now, so a short page that
        // leaves it on screen loads the next one.
        if (this.cursor && !$('timeline').hidden) {
          this.pageObserver.unobserve(more);
          this.pageObserver.observe(more);
        }
      }
    }
  }

  add(item) {
    if (this.items.has(item.id)) return;
    this.items.set(item.id, item);
    const date = new Date(item.fileCreatedAt ?? item.fileModifiedAt ?? Date.now());
    const key = dayKey(date);
    let day = this.days.get(key);
    if (!day) {
      const section = document.createElement('section');
      section.className = 'day';
      section.dataset.day = key;
      const heading = document.createElement('h2');
      heading.textContent = dayLabel(date);
      heading.id = `day-${key}`;
      section.setAttribute('aria-labelledby', heading.id);
      const grid = document.createElement('ul');
      grid.className = 'grid';
      section.append(heading, grid);
      day = { section, grid };
      this.days.set(key, day);
      // Days are shown newest first, even if a page brings an older one out of order.
      const later = [...this.days.keys()].filter((k) => k < key).sort().at(-1);
      const before = later ? this.days.get(later).section : null;
      $('timeline-days').insertBefore(section, before);
    }
    const li = document.createElement('li');
    const tile = document.createElement('button');
    tile.type = 'button';
    tile.className = 'tile';
    tile.dataset.id = item.id;
    const isImage = item.mimeType?.startsWith('image/');
    const isVideo = item.mimeType?.startsWith('video/');
    tile.dataset.kind = isImage ? 'image' : isVideo ? 'video' : 'file';
    tile.setAttribute('aria-label', `${item.originalFileName}, ${isVideo ? 'video' : isImage ? 'photo' : 'file'}, ${when(date)}`);
    const label = document.createElement('span');
    label.className = 'tile-label';
    const type = document.createElement('span');
    type.className = 'tile-type';
    type.textContent = typeLabel(item.mimeType, item.originalFileName);
    const name = document.createElement('span');
    name.className = 'tile-name';
    name.textContent = item.originalFileName;
    label.append(type, name);
    tile.append(label);
    li.append(tile);
    day.grid.append(li);
    this.tiles.set(item.id, tile);
    if (isImage && item.fileSize <= MAX_THUMB_SOURCE) this.tileObserver.observe(tile);
  }

  tilesMoved(entries) {
    for (const e of entries) {
      const id = e.target.dataset.id;
      if (e.isIntersecting) {
        this.visible.add(id);
        if (!e.target.dataset.thumb) {
          e.target.dataset.thumb = 'queued';
          this.queue.push(id);
        }
      } else {
        this.visible.delete(id);
        if (e.target.dataset.thumb === 'queued') {
          delete e.target.dataset.thumb; // scrolled away before its turn
          this.queue = this.queue.filter((q) => q !== id);
        }
      }
    }
    this.pump();
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
    const tile = this.tiles.get(id);
    tile.dataset.thumb = 'loading';
    let url;
    try {
      const blob = await (await this.api.original(id)).blob();
      url = URL.createObjectURL(await shrink(blob, THUMB_EDGE * Math.min(devicePixelRatio || 1, 2)));
    } catch {
      if (generation === this.generation) tile.dataset.thumb = 'none'; // undecodable (e.g. HEIC) or offline
      return;
    }
    if (generation !== this.generation) { URL.revokeObjectURL(url); return; }
    const img = document.createElement('img');
    img.alt = '';
    img.decoding = 'async';
    img.src = url;
    tile.prepend(img);
    tile.dataset.thumb = 'shown';
    this.thumbs.set(id, url);
    this.evict();
  }

  /** Drops the oldest thumbnails that are off-screen, beyond MAX_THUMBS. */
  evict() {
    for (const [id, url] of this.thumbs) {
      if (this.thumbs.size <= MAX_THUMBS) break;
      if (this.visible.has(id)) continue;
      URL.revokeObjectURL(url);
      this.thumbs.delete(id);
      const tile = this.tiles.get(id);
      tile.querySelector('img')?.remove();
      delete tile.dataset.thumb; // drawn again if it scrolls back into view
    }
  }
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
  constructor(api) {
    this.api = api;
    this.dialog = $('viewer');
    this.url = null;
    this.abort = null;
    $('viewer-close').addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => this.clear());
    this.dialog.addEventListener('click', (e) => { if (e.target === this.dialog) this.dialog.close(); });
  }

  clear() {
    this.abort?.abort();
    this.abort = null;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    $('viewer-body').querySelector('.viewer-media')?.remove();
    $('viewer-download').hidden = true;
    $('viewer-download').removeAttribute('href');
  }

  async open(item) {
    if (!item) return;
    this.clear();
    const date = new Date(item.fileCreatedAt ?? item.fileModifiedAt);
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
      const blob = new Blob(parts, { type: item.mimeType || 'application/octet-stream' });
      this.url = URL.createObjectURL(blob);
      let media;
      if (item.mimeType?.startsWith('image/')) {
        media = document.createElement('img');
        media.alt = item.originalFileName;
        media.src = this.url;
      } else if (item.mimeType?.startsWith('video/')) {
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
      download.href = this.url;
      download.download = item.originalFileName;
      download.hidden = false;
    } catch (e) {
      if (abort.signal.aborted) return;
      progress.value = 0;
      text.textContent = navigator.onLine ? `Could not download: ${e.message}` : 'You are offline.';
    }
  }
}
