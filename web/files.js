import { ApiError, problemOf, storedKey } from './api.js';
import { el, sizeText } from './ui.js';

// Files in and out of the message box: chosen files become base64 attachments; delivered files download.

/** How long a downloaded file's blob URL lives: long enough for the browser to start saving it. */
const REVOKE_AFTER_MS = 30_000;

/** Standard padded base64 of some bytes, in chunks so a large file does not overflow the call stack. */
export function base64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The `attachments` of a message: each chosen file read in the browser and base64-encoded. */
export async function encodeFiles(files) {
  return Promise.all(
    files.map(async (file) => ({
      name: file.name,
      ...(file.type ? { contentType: file.type } : {}),
      data: base64(new Uint8Array(await file.arrayBuffer())),
    })),
  );
}

/**
 * The file input and the list of chosen files under it. Choosing again adds files (a file of the same
 * name replaces the earlier one); each listed file has a Remove button.
 */
export class FilePicker {
  constructor(input, list) {
    this.input = input;
    this.list = list;
    this.files = [];
    input.onchange = () => {
      for (const file of input.files) {
        this.files = this.files.filter((f) => f.name !== file.name);
        this.files.push(file);
      }
      // Cleared so choosing the same file again after removing it fires a change.
      input.value = '';
      this.render();
    };
  }

  clear() {
    this.files = [];
    this.input.value = '';
    this.render();
  }

  remove(file) {
    this.files = this.files.filter((f) => f !== file);
    this.render();
    this.input.focus();
  }

  render() {
    this.list.replaceChildren(
      ...this.files.map((file) =>
        el(
          'li',
          { 'data-name': file.name },
          el('span', { className: 'name', text: file.name }),
          el('span', { className: 'size', text: sizeText(file.size) }),
          this.removeButton(file),
        ),
      ),
    );
    this.list.hidden = this.files.length === 0;
  }

  removeButton(file) {
    const button = el('button', { type: 'button', 'aria-label': `Remove ${file.name}`, text: 'Remove' });
    button.onclick = () => this.remove(file);
    return button;
  }
}

/**
 * Downloads a delivered file. The key goes in the Authorization header (never in a URL), so the bytes
 * are fetched here and handed to the browser through a temporary blob URL and `<a download>`.
 */
export async function downloadFile(path, name) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${storedKey()}` } });
  if (!res.ok) throw new ApiError(res.status, problemOf(await res.text()));
  const url = URL.createObjectURL(await res.blob());
  const link = el('a', { href: url, download: name, hidden: '' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
}
