// Formatting helpers shared by the views: sizes, counts, relative times and day labels.

const numbers = new Intl.NumberFormat();
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const dayLong = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
const dayThisYear = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export const count = (n) => numbers.format(n);

/** 1536 → "1.5 KB" (binary units, as file managers show them). */
export function bytes(n) {
  if (!Number.isFinite(n) || n < 1024) return `${Math.max(0, Math.round(n || 0))} B`;
  const units = ['KB', 'MB', 'GB', 'TB', 'PB'];
  let value = n;
  let unit = -1;
  do { value /= 1024; unit += 1; } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A past or future time relative to now: "2 hours ago", "yesterday", "just now". */
export function ago(ms, now = Date.now()) {
  const seconds = (ms - now) / 1000;
  if (Math.abs(seconds) < 45) return 'just now';
  const steps = [[60, 'second'], [60, 'minute'], [24, 'hour'], [7, 'day'], [4.35, 'week'], [12, 'month'], [Infinity, 'year']];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return relative.format(Math.round(value), 'year');
}

/** "about 3 min left" from seconds. */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  const h = Math.floor(seconds / 3600);
  return `${h} h ${Math.round((seconds - h * 3600) / 60)} min`;
}

/** The local calendar day of a timestamp, as a sortable key "2025-11-22". */
export function dayKey(date) {
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, '0');
  const d = String(date.getDate()).padStart(2, '0');
  return `${y}-${m}-${d}`;
}

/** A day heading: "Today", "Yesterday", "Sat, 8 Nov", or with the year when not this year. */
export function dayLabel(date, now = new Date()) {
  const today = dayKey(now);
  const yesterday = dayKey(new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1));
  const key = dayKey(date);
  if (key === today) return 'Today';
  if (key === yesterday) return 'Yesterday';
  return (date.getFullYear() === now.getFullYear() ? dayThisYear : dayLong).format(date);
}

export const when = (date) => dateTime.format(date);

const cameraClock = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

/**
 * When a photo was taken as its camera's clock showed it: the engine's `takenAt`
 * (`2024-05-01T14:00:00.000+02:00`, in the file's own offset) reads "May 1, 2024, 2:00 PM"
 * wherever it is viewed. The wall-clock part is formatted as if UTC, so the viewer's time
 * zone does not move it. '' for text that is no such time.
 */
export function cameraTime(takenAt) {
  const wallClock = new Date(`${String(takenAt).replace(/(Z|[+-]\d\d:\d\d)$/, '')}Z`);
  return Number.isNaN(wallClock.getTime()) ? '' : cameraClock.format(wallClock);
}

/** A short type label for a tile: "VIDEO", "HEIC", "PDF". */
export function typeLabel(mime, name) {
  if (mime?.startsWith('video/')) return 'Video';
  const ext = /\.([a-z0-9]{1,5})$/i.exec(name ?? '')?.[1];
  if (ext) return ext.toUpperCase();
  return (mime?.split('/')[1] ?? 'File').toUpperCase();
}
