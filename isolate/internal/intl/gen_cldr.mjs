// gen_cldr.mjs writes cldr/<locale>.json and cldr/display/<locale>.json:
// the CLDR patterns, names and symbols of the supported locales, as ICU
// (the CLDR release bundled with Node.js) has them, read back out of
// Intl's own output. Run with `go generate` (needs node with full ICU);
// the tests and the build do not need node. After a regeneration, run
// testdata/capture.mjs with the same node so the expectations match.
import { mkdirSync, writeFileSync } from "node:fs";

const LOCALES = ["en", "en-GB", "en-IN", "en-AU", "en-CA", "de", "fr", "es", "it", "nl", "pt-BR", "pt-PT",
  "ja", "zh", "zh-TW", "ko", "ru", "hi", "ar", "ar-EG", "tr", "pl", "sv"];
const CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CNY", "INR", "BRL", "RUB", "CHF", "CAD", "AUD", "KRW", "MXN", "SEK", "PLN", "TRY", "EGP", "TWD", "HKD"];
const ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
  "America/Anchorage", "Pacific/Honolulu", "America/Toronto", "America/Vancouver", "America/Mexico_City",
  "America/Bogota", "America/Lima", "America/Santiago", "America/Argentina/Buenos_Aires", "America/Sao_Paulo",
  "America/Halifax", "America/St_Johns", "Atlantic/Reykjavik", "Europe/London", "Europe/Dublin", "Europe/Lisbon",
  "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam", "Europe/Brussels",
  "Europe/Zurich", "Europe/Vienna", "Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen", "Europe/Warsaw",
  "Europe/Prague", "Europe/Budapest", "Europe/Athens", "Europe/Helsinki", "Europe/Kiev", "Europe/Istanbul",
  "Europe/Moscow", "Africa/Cairo", "Africa/Johannesburg", "Africa/Lagos", "Africa/Nairobi", "Asia/Jerusalem",
  "Asia/Dubai", "Asia/Riyadh", "Asia/Tehran", "Asia/Karachi", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka",
  "Asia/Bangkok", "Asia/Jakarta", "Asia/Singapore", "Asia/Hong_Kong", "Asia/Shanghai", "Asia/Taipei",
  "Asia/Manila", "Asia/Seoul", "Asia/Tokyo", "Australia/Perth", "Australia/Adelaide", "Australia/Brisbane",
  "Australia/Sydney", "Pacific/Auckland"];
const UNITS = ["percent", "millisecond", "second", "minute", "hour", "day", "week", "month", "year", "bit", "byte",
  "kilobit", "kilobyte", "megabit", "megabyte", "gigabit", "gigabyte", "terabyte", "petabyte", "millimeter", "centimeter",
  "meter", "kilometer", "inch", "foot", "yard", "mile", "gram", "kilogram", "ounce", "pound", "stone", "milliliter",
  "liter", "gallon", "fluid-ounce", "celsius", "fahrenheit", "degree", "acre", "hectare",
  "kilometer-per-hour", "mile-per-hour", "meter-per-second", "liter-per-kilometer", "mile-per-gallon", "megabyte-per-second"];
const REL_UNITS = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"];
const WINTER = Date.UTC(2024, 0, 5, 14, 7, 9), SUMMER = Date.UTC(2024, 6, 5, 14, 7, 9);

function numRun(parts, i) {
  const kinds = new Set(["integer", "group", "decimal", "fraction"]);
  let j = i;
  while (j < parts.length && kinds.has(parts[j].type)) j++;
  return j;
}
// template replaces the number of formatted parts with {n}, the currency
// with {c}, the unit with {u}, the compact suffix with {k}.
function template(parts) {
  let out = "";
  for (let i = 0; i < parts.length;) {
    const p = parts[i];
    if (["integer", "group", "decimal", "fraction"].includes(p.type)) { out += "{n}"; i = numRun(parts, i); continue; }
    if (p.type === "currency") out += "{c}";
    else if (p.type === "unit") out += "{u}";
    else if (p.type === "percentSign") out += "{%}";
    else if (p.type === "minusSign") out += "{-}";
    else if (p.type === "plusSign") out += "{+}";
    else out += p.value.replace(/[{}]/g, "");
    i++;
  }
  return out;
}
function partVal(parts, type) { const p = parts.find(p => p.type === type); return p ? p.value : ""; }

// patterns are the number patterns of l (in numbering system nu).
function patterns(l, nu) {
  const nf = (o) => new Intl.NumberFormat(l, nu ? { ...o, numberingSystem: nu } : o);
  const out = {};
  for (const [name, o] of [["decimal", {}], ["percent", { style: "percent" }], ["currency", { style: "currency", currency: "EUR" }],
    ["accounting", { style: "currency", currency: "EUR", currencySign: "accounting" }]]) {
    out[name] = [template(nf(o).formatToParts(1234.5)), template(nf(o).formatToParts(-1234.5)), template(nf({ ...o, signDisplay: "always" }).formatToParts(1234.5))];
  }
  // Currency with a code: ICU puts a space between letters and digits.
  out.currencyCode = [template(nf({ style: "currency", currency: "EUR", currencyDisplay: "code" }).formatToParts(1234.5)),
    template(nf({ style: "currency", currency: "EUR", currencyDisplay: "code" }).formatToParts(-1234.5)),
    template(nf({ style: "currency", currency: "EUR", currencyDisplay: "code", signDisplay: "always" }).formatToParts(1234.5))];
  return out;
}

function numbers(l) {
  const nf = (o) => new Intl.NumberFormat(l, o);
  const p = nf({}).formatToParts(-1234567.5);
  const r = {
    decimal: partVal(p, "decimal"), group: partVal(p, "group"), minus: partVal(p, "minusSign"),
    plus: partVal(nf({ signDisplay: "always" }).formatToParts(1), "plusSign"),
    percentSign: partVal(nf({ style: "percent" }).formatToParts(1), "percentSign"),
    digits: nf({ useGrouping: false }).format(1234567890).slice(-10),
    patterns: {},
  };
  r.digits = [..."0123456789"].map(d => nf({ useGrouping: false }).format(+d)).join("");
  // Grouping: minimum grouping digits and the secondary group size.
  r.minGrouping = nf({}).formatToParts(1234).some(x => x.type === "group") ? 1 : 2;
  const g = nf({}).formatToParts(123456789).filter(x => x.type === "integer").map(x => x.value.length);
  r.secondary = g.length > 2 ? g[1] : 3;
  r.patterns = patterns(l, undefined);
  r.currencies = {};
  const pr = new Intl.PluralRules(l);
  const samples = {};
  for (const n of [1, 2, 3, 5, 11, 21, 100, 0, 1.5, 0.5, 1000000]) { const c = pr.select(n); if (!(c in samples)) samples[c] = n; }
  for (const c of CURRENCIES) {
    const names = {};
    for (const [cat, n] of Object.entries(samples)) {
      const parts = nf({ style: "currency", currency: c, currencyDisplay: "name", minimumFractionDigits: n % 1 ? 1 : 0, maximumFractionDigits: n % 1 ? 1 : 0 }).formatToParts(n);
      names[cat] = [partVal(parts, "currency"), template(parts)];
    }
    r.currencies[c] = {
      symbol: partVal(nf({ style: "currency", currency: c }).formatToParts(1), "currency"),
      narrow: partVal(nf({ style: "currency", currency: c, currencyDisplay: "narrowSymbol" }).formatToParts(1), "currency"),
      names,
    };
  }
  // Compact notation: the pattern of each power of ten, per plural category.
  r.compact = {};
  for (const display of ["short", "long"]) {
    const rows = [];
    const cf = new Intl.NumberFormat(l, { notation: "compact", compactDisplay: display, maximumFractionDigits: 1 });
    for (let e = 3; e <= 14; e++) {
      // The divisor of this magnitude, then each plural category's pattern
      // at that divisor.
      const parts = cf.formatToParts(10 ** e);
      const ints = parts.filter(x => x.type === "integer").map(x => x.value).join("");
      const div = parts.some(x => x.type === "compact") ? e + 1 - ints.length : 0;
      const cats = {};
      for (const [cat, n] of Object.entries(samples)) {
        if (n === 0) continue;
        const ps = cf.formatToParts(n * 10 ** div);
        cats[cat] = [div ? template(ps) : "{n}", div];
      }
      rows.push(cats);
    }
    r.compact[display] = rows;
  }
  // Other numbering systems the locale's users ask for (-u-nu-, the
  // numberingSystem option): Latin and Arabic-Indic digits for Arabic.
  r.numbering = {};
  if (l.startsWith("ar")) {
    for (const nu of ["latn", "arab"]) {
      const f = o => new Intl.NumberFormat(l, { ...o, numberingSystem: nu });
      const p = f({}).formatToParts(-1234567.5);
      r.numbering[nu] = {
        decimal: partVal(p, "decimal"), group: partVal(p, "group"), minus: partVal(p, "minusSign"),
        plus: partVal(f({ signDisplay: "always" }).formatToParts(1), "plusSign"),
        percentSign: partVal(f({ style: "percent" }).formatToParts(1), "percentSign"),
        digits: [..."0123456789"].map(d => f({ useGrouping: false }).format(+d)).join(""),
        patterns: patterns(l, nu),
      };
    }
  }
  // Ranges: the separator ICU puts between two numbers, and the sign of
  // an approximate one.
  const rp = nf({}).formatRangeToParts(1, 5);
  r.rangeSep = rp.filter(x => x.source === "shared" && x.type === "literal").map(x => x.value).join("");
  r.approx = partVal(nf({}).formatRangeToParts(5, 5), "approximatelySign");
  // Units: each display's pattern per plural category.
  r.units = {};
  for (const u of UNITS) {
    const byDisplay = {};
    for (const display of ["short", "long", "narrow"]) {
      const cats = {};
      for (const [cat, n] of Object.entries(samples)) {
        const parts = nf({ style: "unit", unit: u, unitDisplay: display, maximumFractionDigits: 1 }).formatToParts(n);
        cats[cat] = templateUnit(parts);
      }
      byDisplay[display] = cats;
    }
    r.units[u] = byDisplay;
  }
  return r;
}

// templateUnit is a unit pattern: the number as {n}, the rest literal
// (unit parts keep their text and are marked with a leading \u0001).
function templateUnit(parts) {
  let out = "";
  for (let i = 0; i < parts.length;) {
    const p = parts[i];
    if (["integer", "group", "decimal", "fraction"].includes(p.type)) { out += "{n}"; i = numRun(parts, i); continue; }
    if (p.type === "unit") out += "{u:" + p.value.replace(/[{}]/g, "") + "}";
    else out += p.value.replace(/[{}]/g, "");
    i++;
  }
  return out;
}

function relative(l) {
  const pr = new Intl.PluralRules(l);
  const samples = {};
  for (const n of [1, 2, 3, 5, 11, 21, 100, 0, 1.5, 0.5, 1000000]) { const c = pr.select(n); if (!(c in samples)) samples[c] = n; }
  const r = {};
  for (const style of ["long", "short", "narrow"]) {
    const always = new Intl.RelativeTimeFormat(l, { style, numeric: "always" });
    const auto = new Intl.RelativeTimeFormat(l, { style, numeric: "auto" });
    const units = {};
    for (const u of REL_UNITS) {
      const future = {}, past = {};
      for (const [cat, n] of Object.entries(samples)) {
        future[cat] = template(always.formatToParts(n, u));
        past[cat] = template(always.formatToParts(-n, u));
      }
      const words = {};
      for (const v of [-2, -1, 0, 1, 2]) {
        const a = auto.format(v, u);
        if (a !== always.format(v, u)) words[String(v)] = a;
      }
      // -0 and +0 may read differently ("this year" for both, "now").
      units[u] = { future, past, words };
    }
    r[style] = units;
  }
  return r;
}

function lists(l) {
  const r = {};
  for (const type of ["conjunction", "disjunction", "unit"]) for (const style of ["long", "short", "narrow"]) {
    const f = new Intl.ListFormat(l, { type, style });
    const A = "\u0001", B = "\u0002", C = "\u0003", D = "\u0004";
    const two = f.format([A, B]), three = f.format([A, B, C]), four = f.format([A, B, C, D]);
    const between = (s, x, y) => s.slice(s.indexOf(x) + 1, s.indexOf(y));
    r[type + ":" + style] = {
      pair: between(two, A, B), start: between(three, A, B), middle: between(four, B, C), end: between(three, B, C),
      // Text before the first and after the last item (rare).
      before: two.slice(0, two.indexOf(A)), after: two.slice(two.indexOf(B) + 1),
    };
  }
  return r;
}

const FIELDS = ["era", "year", "quarter", "month", "weekOfYear", "weekday", "day", "dayPeriod", "hour", "minute", "second", "timeZoneName"];
const SCRIPTS = ["Arab", "Armn", "Beng", "Brai", "Cyrl", "Deva", "Ethi", "Geor", "Grek", "Gujr", "Guru", "Hang", "Hani", "Hans",
  "Hant", "Hebr", "Hira", "Jpan", "Kana", "Khmr", "Knda", "Kore", "Laoo", "Latn", "Mlym", "Mong", "Mymr", "Orya", "Sinh",
  "Taml", "Telu", "Thaa", "Thai", "Tibt", "Zmth", "Zsye", "Zyyy"];
const DIALECTS = ["en-US", "en-GB", "en-AU", "en-CA", "es-419", "es-ES", "es-MX", "fr-CA", "fr-CH", "de-AT", "de-CH",
  "pt-BR", "pt-PT", "zh-Hans", "zh-Hant", "nl-BE", "ro-MD", "sw-CD", "ar-001"];
const LANG3 = ["fil", "haw", "yue", "ast", "ckb", "kok", "mai", "sat", "sah", "gsw", "nds", "chr", "ceb", "hmn", "arc", "mni"];

// displayNames are the names Intl.DisplayNames gives: languages, regions,
// scripts, currencies, calendars and date-time fields.
function displayNames(l) {
  const dn = (type, o) => new Intl.DisplayNames(l, { type, fallback: "none", ...o });
  const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const pairs = [];
  for (const a of letters) for (const b of letters) pairs.push(a + b);
  const collect = (type, codes, o) => {
    const f = dn(type, o), out = {};
    for (const c of codes) { const n = f.of(c); if (n !== undefined) out[c] = n; }
    return out;
  };
  const r = {
    language: collect("language", pairs.map(p => p.toLowerCase()).concat(LANG3)),
    region: collect("region", pairs.concat(["001", "002", "019", "142", "150", "419"])),
    script: collect("script", SCRIPTS),
    currency: collect("currency", Intl.supportedValuesOf("currency")),
    calendar: collect("calendar", ["buddhist", "chinese", "gregory", "hebrew", "islamic", "iso8601", "japanese", "persian"]),
    fields: {},
  };
  // Dialect names ("American English"), where they are not the composed
  // standard name.
  const std = dn("language", { languageDisplay: "standard" });
  r.dialects = {};
  for (const t of DIALECTS) {
    const d = dn("language").of(t);
    if (d !== undefined && d !== std.of(t)) r.dialects[t] = d;
  }
  // The display pattern ("{0} ({1})") and the separator of its parts.
  const p1 = std.of("de-AT").replace(r.language.de, "{0}").replace(r.region.AT, "{1}");
  const p2 = std.of("sr-Latn-RS").replace(r.language.sr, "").replace(r.script.Latn, "\u0001").replace(r.region.RS, "\u0002");
  r.pattern = p1;
  r.separator = p2.slice(p2.indexOf("\u0001") + 1, p2.indexOf("\u0002"));
  for (const style of ["long", "short", "narrow"]) r.fields[style] = collect("dateTimeField", FIELDS, { style });
  return r;
}

const DATE_OPTS = { weekday: ["short", "long"], year: ["numeric", "2-digit"], month: ["numeric", "2-digit", "short", "long"], day: ["numeric", "2-digit"] };
function* dateCombos() {
  for (const w of [undefined, ...DATE_OPTS.weekday]) for (const y of [undefined, ...DATE_OPTS.year])
    for (const m of [undefined, ...DATE_OPTS.month]) for (const d of [undefined, ...DATE_OPTS.day]) {
      if (!w && !y && !m && !d) continue;
      const o = {};
      if (w) o.weekday = w; if (y) o.year = y; if (m) o.month = m; if (d) o.day = d;
      yield o;
    }
}
function* timeCombos() {
  for (const h of [undefined, "numeric", "2-digit"]) for (const mi of [undefined, "numeric", "2-digit"]) for (const s of [undefined, "numeric", "2-digit"])
    for (const hc of [undefined, true, false]) for (const z of [undefined, "short"]) {
      if (!h && !mi && !s) continue;
      if (hc !== undefined && !h) continue;
      const o = {};
      if (h) o.hour = h; if (mi) o.minute = mi; if (s) o.second = s; if (hc !== undefined) o.hour12 = hc; if (z) o.timeZoneName = z;
      yield o;
    }
}
function key(o) { return Object.entries(o).map(([k, v]) => k + "=" + v).join(","); }

// pattern turns formatted parts of WINTER (2024-01-05 14:07:09 UTC, a
// Friday) into a pattern of {field} tokens and literals.
const EARLY = Date.UTC(2024, 0, 5, 3, 7, 9);
function pattern(l, o, names) {
  const fmt = new Intl.DateTimeFormat(l, { ...o, timeZone: "UTC" });
  const parts = fmt.formatToParts(WINTER);
  const early = fmt.formatToParts(EARLY);
  const earlyHour = partVal(early, "hour");
  const digits = numbers_cache[l].digits;
  const toLatin = s => s.replace(/[^\x00-\x7f]/g, c => { const i = digits.indexOf(c); return i >= 0 ? String(i) : c; });
  let out = "";
  for (const p of parts) {
    const v = toLatin(p.value);
    switch (p.type) {
      case "literal": out += p.value.replace(/[{}]/g, ""); break;
      case "year": out += v.length === 2 && v === "24" ? "{yy}" : "{y}"; break;
      case "month":
        if (/^\d+$/.test(v)) out += v.length === 2 ? "{MM}" : "{M}";
        else {
          const k = ["MMMM", "MMM", "MMMMM", "LLLL", "LLL"].find(k => names[k][0] === p.value);
          out += "{" + (k || "MMM") + "}";
        }
        break;
      case "day": out += v.length === 2 ? "{dd}" : "{d}"; break;
      case "weekday": out += "{" + (["EEEE", "EEE", "EEEEE", "cccc", "ccc"].find(k => names[k][5] === p.value) || "EEE") + "}"; break;
      case "hour": {
        const two = toLatin(earlyHour).length === 2;
        out += v === "14" ? (two ? "{HH}" : "{H}") : (two ? "{hh}" : "{h}");
        break;
      }
      case "minute": out += v.length === 2 ? "{mm}" : "{m}"; break;
      case "second": out += v.length === 2 ? "{ss}" : "{s}"; break;
      case "dayPeriod": out += p.value === names.a[1] && partVal(early, "dayPeriod") === names.a[0] ? "{a}" : "{B}"; break;
      case "timeZoneName": out += "{z}"; break;
      case "era": out += { short: "{G}", long: "{GGGG}", narrow: "{GGGGG}" }[o.era] || "{G}"; break;
      default: out += p.value;
    }
  }
  return out;
}

// amPm is the locale's AM and PM markers (with the "a" field, not the
// flexible day periods of "B").
function amPm(l) {
  const p = h => partVal(new Intl.DateTimeFormat(l, { timeZone: "UTC", hour: "numeric", minute: "numeric", hour12: true }).formatToParts(Date.UTC(2024, 0, 5, h)), "dayPeriod");
  return [p(10), p(14)];
}

function dateNames(l) {
  const f = (o, d) => { const parts = new Intl.DateTimeFormat(l, { ...o, timeZone: "UTC" }).formatToParts(d); return parts; };
  const months = (o, standalone) => Array.from({ length: 12 }, (_, i) => {
    const d = Date.UTC(2024, i, 5);
    const parts = f(standalone ? { month: o } : { month: o, day: "numeric" }, d);
    return partVal(parts, "month");
  });
  const days = (o, standalone) => Array.from({ length: 7 }, (_, i) => partVal(f(standalone ? { weekday: o } : { weekday: o, day: "numeric", month: "long" }, Date.UTC(2024, 0, 7 + i)), "weekday"));
  const eras = w => [Date.UTC(-50, 0, 5), Date.UTC(2024, 0, 5)].map(d => partVal(f({ era: w, year: "numeric" }, d), "era"));
  const dp = (h, hc) => partVal(f({ hour: "numeric", hour12: true }, Date.UTC(2024, 0, 5, h)), "dayPeriod");
  return {
    MMMM: months("long"), MMM: months("short"), MMMMM: months("narrow"), LLLL: months("long", true), LLL: months("short", true),
    EEEE: days("long"), EEE: days("short"), EEEEE: days("narrow"), cccc: days("long", true), ccc: days("short", true),
    G: eras("short"), GGGG: eras("long"), GGGGG: eras("narrow"),
    a: [partVal(f({ hour: "numeric", hourCycle: "h12" }, Date.UTC(2024, 0, 5, 10)), "dayPeriod") && amPm(l)[0], amPm(l)[1]],
    B: Array.from({ length: 24 }, (_, h) => partVal(f({ timeStyle: "medium", hour12: true }, Date.UTC(2024, 0, 5, h)), "dayPeriod")),
  };
}

function tzNames(l) {
  const name = (zone, t, style) => partVal(new Intl.DateTimeFormat(l, { timeZone: zone, timeZoneName: style, hour: "numeric" }).formatToParts(t), "timeZoneName");
  const r = { gmt: {}, zones: {} };
  for (const style of ["short", "long"]) {
    const digits = numbers_cache[l].digits;
    const toLatin = s => s.replace(/[^\x00-\x7f]/g, c => { const i = digits.indexOf(c); return i >= 0 ? String(i) : c; });
    const off = (zone, h, m) => { let n = toLatin(name(zone, WINTER, style)); n = n.includes("0" + h) ? n.replace("0" + h, "{hh}") : n.replace(String(h), "{h}"); return m ? n.replace(m, "{m}") : n; };
    const plus = off("Etc/GMT-5", 5), minus = off("Etc/GMT+3", 3);
    r.gmt[style] = {
      utc: name("UTC", WINTER, style),
      zero: name("Africa/Abidjan", WINTER, style),
      plus, minus,
      plusHM: style === "short" ? off("Asia/Kathmandu", 5, "45") : plus.replace(":00", ":{m}"),
      minusHM: style === "short" ? off("America/St_Johns", 3, "30") : minus.replace(":00", ":{m}"),
    };
    for (const z of ZONES) r.zones[style + ":" + z] = [name(z, WINTER, style), name(z, SUMMER, style)];
  }
  return r;
}

const numbers_cache = {};
const display = {};
const data = {};
for (const l of LOCALES) {
  numbers_cache[l] = numbers(l);
  const names = dateNames(l);
  const dates = {};
  for (const o of dateCombos()) {
    const dt = pattern(l, o, names);
    // The glue between this date and a time.
    const both = pattern(l, { ...o, hour: "numeric", minute: "2-digit" }, names);
    const t = pattern(l, { hour: "numeric", minute: "2-digit" }, names);
    let glue = "{1}, {0}";
    if (both.includes(dt) && both.includes(t)) glue = both.replace(dt, "{1}").replace(t, "{0}");
    dates[key(o)] = [dt, glue];
  }
  // Eras: with each date option set that shows a year.
  for (const era of ["short", "long", "narrow"]) for (const o of dateCombos()) {
    if (!o.year) continue;
    const { weekday, ...rest } = o;
    const oe = weekday ? { weekday, era, ...rest } : { era, ...rest };
    dates[key(oe)] = [pattern(l, oe, names), dates[key(o)][1]];
  }
  const times = {};
  for (const o of timeCombos()) times[key(o)] = pattern(l, o, names);
  const styles = {};
  for (const ds of [undefined, "full", "long", "medium", "short"]) for (const ts of [undefined, "full", "long", "medium", "short"]) {
    if (!ds && !ts) continue;
    const o = {}; if (ds) o.dateStyle = ds; if (ts) o.timeStyle = ts;
    styles[key(o)] = pattern(l, o, names);
  }
  const hc = new Intl.DateTimeFormat(l, { hour: "numeric" }).resolvedOptions().hourCycle;
  const hc12 = new Intl.DateTimeFormat(l, { hour: "numeric", hour12: true }).resolvedOptions().hourCycle;
  const hc24 = new Intl.DateTimeFormat(l, { hour: "numeric", hour12: false }).resolvedOptions().hourCycle;
  const dateRangeSep = new Intl.DateTimeFormat(l, { timeZone: "UTC" }).formatRangeToParts(Date.UTC(2020, 0, 1), Date.UTC(2024, 0, 1))
    .filter(x => x.source === "shared").map(x => x.value).join("");
  data[l] = { numbers: numbers_cache[l], names, dates, times, styles, hourCycle: hc, hourCycle12: hc12, hourCycle24: hc24, dateRangeSep, tz: tzNames(l), relative: relative(l), lists: lists(l) };
  display[l] = displayNames(l);
}
mkdirSync("cldr", { recursive: true });
let total = 0;
for (const [l, d] of Object.entries(data)) {
  const json = JSON.stringify(d);
  total += json.length;
  writeFileSync("cldr/" + l + ".json", json);
}
// Display names are a file of their own: only Intl.DisplayNames reads them.
mkdirSync("cldr/display", { recursive: true });
for (const [l, d] of Object.entries(display)) {
  const json = JSON.stringify(d);
  total += json.length;
  writeFileSync("cldr/display/" + l + ".json", json);
}
writeFileSync("cldr/VERSION", "ICU " + process.versions.icu + ", CLDR " + process.versions.cldr + "\n");
console.log("icu", process.versions.icu, "cldr", process.versions.cldr, "bytes", total);
