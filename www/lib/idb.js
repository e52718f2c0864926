// The web app's one IndexedDB helper, for its small key-value databases of its own
// (`ferry-background`, `ferry-folders`); the engine keeps its catalog itself. A promise
// shim around IDBRequest is all they need: one object store, get, put and delete, each
// in its own short transaction. (The `idb` package would do the same, but it is one
// more file to vendor and precache for a dozen lines of use.)

/** Resolves with an IDBRequest's result, or rejects with its error. */
function settle(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * The object store `store` of the database `name` (created at version 1 on first use),
 * as `{get(key), put(key, value), delete(key)}`, each a promise that settles once its
 * transaction has committed. The database is opened for each call and closed after, so
 * nothing holds it open (deleting it, or a later version, is never blocked).
 */
export function keyValueStore(name, store) {
  const run = async (mode, use) => {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(store);
    const db = await settle(open);
    try {
      const tx = db.transaction(store, mode);
      const done = new Promise((resolve, reject) => {
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
      const [result] = await Promise.all([settle(use(tx.objectStore(store))), done]);
      return result;
    } finally {
      db.close();
    }
  };
  return {
    get: (key) => run('readonly', (s) => s.get(key)),
    put: (key, value) => run('readwrite', (s) => s.put(value, key)),
    delete: (key) => run('readwrite', (s) => s.delete(key)),
  };
}
