package webapi

import (
	"testing"
)

const hexHelper = `const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
const enc = (s) => new TextEncoder().encode(s);
`

func TestCrypto(t *testing.T) {
	runCases(t, []jsCase{
		{"SHA-256 abc", hexHelper + `return hex(await crypto.subtle.digest("SHA-256", enc("abc")))`,
			"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"SHA-1 abc", hexHelper + `return hex(await crypto.subtle.digest({name: "sha-1"}, enc("abc")))`,
			"a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"SHA-384 abc", hexHelper + `return hex(await crypto.subtle.digest("SHA-384", enc("abc").buffer))`,
			"cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"},
		{"SHA-512 abc", hexHelper + `return hex(await crypto.subtle.digest("SHA-512", new DataView(enc("abc").buffer)))`,
			"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{"SHA-256 empty", hexHelper + `return hex(await crypto.subtle.digest("SHA-256", new Uint8Array()))`,
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"MD5 (Workers)", hexHelper + `return hex(await crypto.subtle.digest("MD5", enc("abc")))`, "900150983cd24fb0d6963f7d28e17f72"},
		{"digest returns ArrayBuffer", `return (await crypto.subtle.digest("SHA-256", new Uint8Array())) instanceof ArrayBuffer`, "true"},
		{"digest unknown", `return crypto.subtle.digest("SHA-3", new Uint8Array()).then(() => "ok", (e) => e.name)`, "NotSupportedError"},
		{"digest string data rejects", `return crypto.subtle.digest("SHA-256", "abc").then(() => "ok", (e) => e.name)`, "TypeError"},
		{"HMAC RFC 4231 case 1", hexHelper + `
			const key = await crypto.subtle.importKey("raw", new Uint8Array(20).fill(0x0b), {name: "HMAC", hash: "SHA-256"}, false, ["sign", "verify"]);
			const sig = await crypto.subtle.sign("HMAC", key, enc("Hi There"));
			return hex(sig) + " " + await crypto.subtle.verify("HMAC", key, sig, enc("Hi There")) + " " + await crypto.subtle.verify({name: "HMAC"}, key, sig, enc("Hi there"))`,
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7 true false"},
		{"HMAC RFC 4231 case 2 SHA-512", hexHelper + `
			const key = await crypto.subtle.importKey("raw", enc("Jefe"), {name: "hmac", hash: {name: "SHA-512"}}, true, ["sign"]);
			return hex(await crypto.subtle.sign({name: "HMAC"}, key, enc("what do ya want for nothing?")))`,
			"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{"CryptoKey attributes", `const k = await crypto.subtle.importKey("raw", new Uint8Array(4), {name: "HMAC", hash: "SHA-1"}, true, ["verify", "sign", "sign"]);
			return [k.type, k.extractable, k.algorithm.name, k.algorithm.hash.name, k.algorithm.length, k.usages.join("+"), k instanceof CryptoKey].join("|")`,
			"secret|true|HMAC|SHA-1|32|verify+sign|true"},
		{"exportKey", `const k = await crypto.subtle.importKey("raw", new Uint8Array([1, 2]), {name: "HMAC", hash: "SHA-256"}, true, ["sign"]);
			return new Uint8Array(await crypto.subtle.exportKey("raw", k)).join(",")`, "1,2"},
		{"exportKey not extractable", `const k = await crypto.subtle.importKey("raw", new Uint8Array([1]), {name: "HMAC", hash: "SHA-256"}, false, ["sign"]);
			return crypto.subtle.exportKey("raw", k).then(() => "ok", (e) => e.name)`, "InvalidAccessError"},
		{"sign without usage", `const k = await crypto.subtle.importKey("raw", new Uint8Array([1]), {name: "HMAC", hash: "SHA-256"}, false, ["verify"]);
			return crypto.subtle.sign("HMAC", k, new Uint8Array()).then(() => "ok", (e) => e.name)`, "InvalidAccessError"},
		{"empty usages", `return crypto.subtle.importKey("raw", new Uint8Array([1]), {name: "HMAC", hash: "SHA-256"}, false, []).then(() => "ok", (e) => e.name)`, "SyntaxError"},
		{"bad usage", `return crypto.subtle.importKey("raw", new Uint8Array([1]), {name: "HMAC", hash: "SHA-256"}, false, ["encrypt"]).then(() => "ok", (e) => e.name)`, "SyntaxError"},
		{"unsupported algorithm", `return crypto.subtle.importKey("raw", new Uint8Array(16), {name: "AES-XTS"}, false, ["encrypt"]).then(() => "ok", (e) => e.name)`, "NotSupportedError"},
		{"AES key of a wrong size", `return crypto.subtle.importKey("raw", new Uint8Array([1]), {name: "AES-GCM"}, false, ["encrypt"]).then(() => "ok", (e) => e.name)`, "DataError"},
		{"jwk without kty", `return crypto.subtle.importKey("jwk", {}, {name: "HMAC", hash: "SHA-256"}, false, ["sign"]).then(() => "ok", (e) => e.name)`, "DataError"},
		{"bad hash", `return crypto.subtle.importKey("raw", new Uint8Array([1]), {name: "HMAC", hash: "MD5"}, false, ["sign"]).then(() => "ok", (e) => e.name)`, "NotSupportedError"},
		{"length check", `return crypto.subtle.importKey("raw", new Uint8Array([1, 2]), {name: "HMAC", hash: "SHA-256", length: 8}, false, ["sign"]).then(() => "ok", (e) => e.name)`, "DataError"},
		{"timingSafeEqual", `const s = crypto.subtle; return [s.timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), s.timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))].join()`, "true,false"},
		{"timingSafeEqual lengths", `try { crypto.subtle.timingSafeEqual(new Uint8Array(1), new Uint8Array(2)); } catch (e) { return e.name }`, "TypeError"},
		{"getRandomValues", `const a = new Uint8Array(4); const r = crypto.getRandomValues(a); return (r === a) + " " + a.join(",")`, "true 171,171,171,171"},
		{"getRandomValues Uint32 view", `const a = new Uint32Array(4); crypto.getRandomValues(a.subarray(1, 2)); return a.join(",")`, "0,2880154539,0,0"},
		{"getRandomValues quota", `try { crypto.getRandomValues(new Uint8Array(65537)); } catch (e) { return e.name + " " + (e instanceof DOMException) }`, "QuotaExceededError true"},
		{"getRandomValues at quota", `return crypto.getRandomValues(new Uint8Array(65536)).length`, "65536"},
		{"getRandomValues float", `try { crypto.getRandomValues(new Float64Array(1)); } catch (e) { return e.name }`, "TypeMismatchError"},
		{"getRandomValues DataView", `try { crypto.getRandomValues(new DataView(new ArrayBuffer(1))); } catch (e) { return e.name }`, "TypeMismatchError"},
		{"getRandomValues plain array", `try { crypto.getRandomValues([1, 2]); } catch (e) { return e.name }`, "TypeMismatchError"},
		{"getRandomValues number", `try { crypto.getRandomValues(1); } catch (e) { return e.name }`, "TypeError"},
		{"randomUUID", `return crypto.randomUUID()`, "abababab-abab-4bab-abab-abababababab"},
		{"randomUUID real", `return /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID())`, "true"},
	})
}
