/**
 * A container's image reference, checked against Docker's distribution/reference
 * grammar, split into the parts users get wrong so the message says which.
 * specPatterns.ts's IMAGE_REFERENCE says the same for the OpenAPI document.
 */

const REGISTRY_HOST = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d{1,5})?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

const IMAGE_HINT = 'expected name[:tag] or name@sha256:<64 hex digits>, e.g. nginx:1.27';

export function imageProblem(image: string): string | null {
  if (image.length > 255) return `image is longer than 255 characters`;
  let rest = image;
  const at = rest.indexOf('@');
  if (at !== -1) {
    if (!DIGEST.test(rest.slice(at + 1)))
      return `image "${image}" has an invalid digest (expected @sha256:<64 lowercase hex digits>)`;
    rest = rest.slice(0, at);
  }
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon !== -1) {
    if (!TAG.test(rest.slice(colon + 1))) return `image "${image}" has an invalid tag (letters, digits, _ . -, at most 128)`;
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  const first = parts[0];
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!REGISTRY_HOST.test(first)) return `image "${image}" has an invalid registry host "${first}"`;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => p === '')) return `image "${image}" is not a valid image reference (${IMAGE_HINT})`;
  for (const p of parts) {
    if (!PATH_COMPONENT.test(p)) {
      if (PATH_COMPONENT.test(p.toLowerCase())) return `image "${image}" must be lowercase (repository names are lowercase)`;
      return `image "${image}" is not a valid image reference (${IMAGE_HINT})`;
    }
  }
  return null;
}
