// ferry-uploader through Vite: the package resolves its worker and wasm with
// `new URL('./…', import.meta.url)`, which Vite turns into emitted assets.
import { Uploader } from 'ferry-uploader';
import 'ferry-uploader/element';

const params = new URLSearchParams(location.search);
const endpoint = params.get('endpoint') ?? `${location.origin}/api`;
const apiKey = params.get('key') ?? '';

// The element: attributes set before it is connected are read when it connects.
const element = document.querySelector('#element');
element.setAttribute('endpoint', endpoint);
element.setAttribute('api-key', apiKey);
element.setAttribute('catalog', 'vite-example-element');

// The API: its own catalog, so its queue is separate from the element's.
const status = document.querySelector('#status');
const uploader = new Uploader({ endpoint, apiKey, catalog: 'vite-example-api', autoStart: true });
uploader.on('progress', (p) => { status.textContent = `${p.state}: ${p.done} of ${p.total}`; });
uploader.on('error', (e) => { status.textContent = `${e.code}: ${e.message}`; });
document.querySelector('#pick').addEventListener('change', async (event) => {
  await uploader.add(event.target.files);
});
window.uploader = uploader;
