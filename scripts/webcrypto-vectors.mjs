// Writes isolate/internal/webapi/testdata/webcrypto.json: keys, inputs and
// outputs of Web Crypto operations as Node.js (node scripts/webcrypto-vectors.mjs)
// computes them, which TestWebCryptoVectors checks warren's crypto.subtle
// against: the same exports, the same deterministic outputs, and each
// side's signatures and ciphertexts accepted by the other.
import { webcrypto as wc } from "node:crypto";
import { writeFileSync } from "node:fs";

const s = wc.subtle;
const b64 = (b) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString("base64");
const bytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const msg = new TextEncoder().encode("warren signs and seals this message, as Cloudflare's Workers would.");

async function exportAll(key) {
  const out = { jwk: await s.exportKey("jwk", key) };
  for (const f of ["raw", "spki", "pkcs8"]) {
    try { out[f] = b64(await s.exportKey(f, key)); } catch {}
  }
  return out;
}

async function pair(alg, usages) {
  const kp = await s.generateKey(alg, true, usages);
  return { publicKey: await exportAll(kp.publicKey), privateKey: await exportAll(kp.privateKey), kp };
}

const vectors = [];

// Signatures.
const sigs = [
  { gen: { name: "ECDSA", namedCurve: "P-256" }, params: { name: "ECDSA", hash: "SHA-256" } },
  { gen: { name: "ECDSA", namedCurve: "P-384" }, params: { name: "ECDSA", hash: "SHA-384" } },
  { gen: { name: "ECDSA", namedCurve: "P-521" }, params: { name: "ECDSA", hash: "SHA-512" } },
  { gen: { name: "Ed25519" }, params: { name: "Ed25519" }, deterministic: true },
  { gen: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, params: { name: "RSASSA-PKCS1-v1_5" }, deterministic: true },
  { gen: { name: "RSA-PSS", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-384" }, params: { name: "RSA-PSS", saltLength: 48 } },
];
for (const v of sigs) {
  const p = await pair(v.gen, ["sign", "verify"]);
  const sig = await s.sign(v.params, p.kp.privateKey, msg);
  vectors.push({ op: "sign", gen: v.gen.publicExponent ? { ...v.gen, publicExponent: [1, 0, 1] } : v.gen, params: v.params,
    publicKey: p.publicKey, privateKey: p.privateKey, data: b64(msg), out: b64(sig), deterministic: !!v.deterministic });
}
{
  const k = await s.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign", "verify"]);
  vectors.push({ op: "sign", gen: { name: "HMAC", hash: "SHA-512" }, params: { name: "HMAC" }, secretKey: await exportAll(k),
    data: b64(msg), out: b64(await s.sign("HMAC", k, msg)), deterministic: true });
}

// Ciphers.
const ciphers = [
  { gen: { name: "AES-GCM", length: 128 }, params: { name: "AES-GCM", iv: bytes(12, 1) } },
  { gen: { name: "AES-GCM", length: 256 }, params: { name: "AES-GCM", iv: bytes(12, 2), additionalData: bytes(20, 3), tagLength: 96 } },
  { gen: { name: "AES-GCM", length: 192 }, params: { name: "AES-GCM", iv: bytes(16, 4), additionalData: bytes(5, 5) } },
  { gen: { name: "AES-CBC", length: 128 }, params: { name: "AES-CBC", iv: bytes(16, 6) } },
  { gen: { name: "AES-CBC", length: 256 }, params: { name: "AES-CBC", iv: bytes(16, 7) }, data: bytes(32, 8) },
  { gen: { name: "AES-CTR", length: 128 }, params: { name: "AES-CTR", counter: bytes(16, 9), length: 64 } },
  // A 4-bit counter at 14 wraps after two blocks: the next ones count from 0.
  { gen: { name: "AES-CTR", length: 256 }, params: { name: "AES-CTR", counter: Uint8Array.from([...bytes(15, 10), 0x3e]), length: 4 } },
];
for (const v of ciphers) {
  const k = await s.generateKey(v.gen, true, ["encrypt", "decrypt"]);
  const data = v.data ?? msg;
  const ct = await s.encrypt(v.params, k, data);
  const params = Object.fromEntries(Object.entries(v.params).map(([n, x]) => [n, x instanceof Uint8Array ? b64(x) : x]));
  vectors.push({ op: "encrypt", gen: v.gen, params, secretKey: await exportAll(k), data: b64(data), out: b64(ct), deterministic: true });
}
for (const hash of ["SHA-1", "SHA-256"]) {
  const p = await pair({ name: "RSA-OAEP", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash }, ["encrypt", "decrypt"]);
  const params = hash === "SHA-1" ? { name: "RSA-OAEP" } : { name: "RSA-OAEP", label: bytes(9, 11) };
  const ct = await s.encrypt(params, p.kp.publicKey, msg);
  vectors.push({ op: "encrypt", gen: { name: "RSA-OAEP", modulusLength: 2048, publicExponent: [1, 0, 1], hash },
    params: params.label ? { ...params, label: b64(params.label) } : params, publicKey: p.publicKey, privateKey: p.privateKey,
    data: b64(msg), out: b64(ct), deterministic: false });
}

// Key wrapping with AES-KW: an AES key and an HMAC key wrapped raw.
{
  const kek = await s.generateKey({ name: "AES-KW", length: 256 }, true, ["wrapKey", "unwrapKey"]);
  const key = await s.generateKey({ name: "AES-GCM", length: 192 }, true, ["encrypt"]);
  const wrapped = await s.wrapKey("raw", key, kek, "AES-KW");
  vectors.push({ op: "wrap", gen: { name: "AES-KW", length: 256 }, params: { name: "AES-KW" }, secretKey: await exportAll(kek),
    data: b64(await s.exportKey("raw", key)), out: b64(wrapped), deterministic: true });
}

// Derivations.
const pw = new TextEncoder().encode("correct horse battery staple");
{
  const k = await s.importKey("raw", pw, "PBKDF2", false, ["deriveBits"]);
  const params = { name: "PBKDF2", hash: "SHA-256", salt: bytes(16, 12), iterations: 1000 };
  vectors.push({ op: "derive", params: { ...params, salt: b64(params.salt) }, base: b64(pw), length: 256, out: b64(await s.deriveBits(params, k, 256)) });
}
{
  const k = await s.importKey("raw", pw, "HKDF", false, ["deriveBits"]);
  const params = { name: "HKDF", hash: "SHA-512", salt: bytes(32, 13), info: bytes(10, 14) };
  vectors.push({ op: "derive", params: { ...params, salt: b64(params.salt), info: b64(params.info) }, base: b64(pw), length: 520, out: b64(await s.deriveBits(params, k, 520)) });
}
for (const gen of [{ name: "ECDH", namedCurve: "P-256" }, { name: "ECDH", namedCurve: "P-521" }, { name: "X25519" }]) {
  const a = await pair(gen, ["deriveBits"]);
  const b = await pair(gen, ["deriveBits"]);
  const bits = await s.deriveBits({ name: gen.name, public: b.kp.publicKey }, a.kp.privateKey, null);
  vectors.push({ op: "agree", gen, privateKey: a.privateKey, publicKey: b.publicKey, out: b64(bits) });
}

writeFileSync(new URL("../isolate/internal/webapi/testdata/webcrypto.json", import.meta.url), JSON.stringify({ node: process.version, vectors }, null, 1) + "\n");
console.log(vectors.length, "vectors");
