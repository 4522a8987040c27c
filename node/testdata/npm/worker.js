// A Worker importing npm packages: nanoid 5.1.16 as published (its
// "browser" export avoids node:crypto), and hand-made packages for the
// cases nanoid does not show (see README.md).
import { nanoid, customAlphabet, urlAlphabet } from "nanoid";
import { nanoid as insecure } from "nanoid/non-secure";
import greet from "cjs-greet";
import pad from "pad";
import { flavor } from "@acme/strings";
import { shout } from "@acme/strings/shout";
import meta from "@acme/strings/package.json";

export default {
  fetch() {
    const id = nanoid();
    return Response.json({
      id: id.length === 21 && /^[A-Za-z0-9_-]+$/.test(id),
      custom: /^[ab]{8}$/.test(customAlphabet("ab", 8)()),
      insecure: insecure(10).length,
      alphabet: urlAlphabet.length,
      greet: greet("ada"),
      pad: pad("x"),
      flavor,
      shout: shout("hi"),
      version: meta.version,
    });
  },
};
