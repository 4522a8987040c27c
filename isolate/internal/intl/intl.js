// Intl for warren's goja isolates: the ECMA-402 surface (option reading,
// validation, resolvedOptions) in JS over Go natives (N) that hold the
// CLDR data and do the formatting. Compiled once per process; run in a
// runtime on the first use of Intl or of a toLocaleString method.
(function (N) {
  "use strict";
  const MAX_LOCALES = 256;
  // Intl.Locale instances: [tag, baseName, language, script, region,
  // calendar, collation, hourCycle, caseFirst, numeric, numberingSystem].
  // (Made by the Locale builder: until then there are no Locales.)
  let locState;

  function toObject(o) {
    if (o === null || o === undefined) throw new TypeError("Cannot convert undefined or null to object");
    return Object(o);
  }
  function canonList(locales) {
    if (locales === undefined) return [];
    if (typeof locales === "string") return [N.canon(locales)];
    if (locState !== undefined && locState.has(locales)) return [locState.get(locales)[0]];
    const o = toObject(locales);
    const len = Math.min(Number(o.length) || 0, 2 ** 53 - 1);
    if (len > MAX_LOCALES) throw new RangeError("Too many locales: " + len);
    const seen = [];
    for (let i = 0; i < len; i++) {
      if (!(i in o)) continue;
      const v = o[i];
      if (typeof v !== "string" && (typeof v !== "object" || v === null)) throw new TypeError("Language ID should be string or object.");
      const tag = locState !== undefined && locState.has(v) ? locState.get(v)[0] : N.canon(typeof v === "string" ? v : String(v));
      if (!seen.includes(tag)) seen.push(tag);
    }
    return seen;
  }
  function getOpt(options, name, values, fallback) {
    let v = options[name];
    if (v === undefined) return fallback;
    v = String(v);
    if (values !== undefined && !values.includes(v)) throw new RangeError("Value " + v + " out of range for Intl options property " + name);
    return v;
  }
  function getBool(options, name, fallback) {
    const v = options[name];
    return v === undefined ? fallback : Boolean(v);
  }
  function defaultNumber(v, min, max, fallback, name) {
    if (v === undefined) return fallback;
    v = Number(v);
    if (Number.isNaN(v) || v < min || v > max) throw new RangeError(name + " value is out of range.");
    return Math.floor(v);
  }
  function getNumberOpt(options, name, min, max, fallback) {
    return defaultNumber(options[name], min, max, fallback, name);
  }
  function coerceOptions(options) {
    return options === undefined ? Object.create(null) : toObject(options);
  }
  function supportedLocalesOf(locales, options) {
    const requested = canonList(locales);
    if (options !== undefined) getOpt(toObject(options), "localeMatcher", ["lookup", "best fit"], "best fit");
    return N.supported(requested);
  }
  function defineMethods(proto, methods) {
    const keys = Object.keys(methods);
    for (let i = 0; i < keys.length; i++) {
      Object.defineProperty(proto, keys[i], { value: methods[keys[i]], writable: true, configurable: true, enumerable: false });
    }
  }
  function setTag(C, tag) {
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: tag, configurable: true });
    defineMethods(C, { supportedLocalesOf });
  }
  function toParts(raw) {
    const out = [];
    for (let i = 0; i < raw.length; i += 2) out.push({ type: raw[i], value: raw[i + 1] });
    return out;
  }
  function checkBrand(o, set, name, method) {
    if (typeof o !== "object" || o === null || !set.has(o)) throw new TypeError("Method Intl." + name + ".prototype." + method + " called on incompatible receiver " + String(o));
  }

  // numbering resolves the numbering system from the option or the
  // locale's -u-nu- extension; ext collects the extensions in effect.
  function numbering(requested, locale, nu, ext) {
    if (nu !== undefined) return N.numberingSystem(locale, nu);
    const fromTag = requested.length ? N.extension(requested[0], "nu") : "";
    const used = N.numberingSystem(locale, fromTag);
    if (fromTag !== "" && used === fromTag) ext.nu = fromTag;
    return used;
  }
  function withExtensions(locale, ext) {
    const keys = Object.keys(ext).sort();
    if (keys.length === 0) return locale;
    let s = locale + "-u";
    for (let i = 0; i < keys.length; i++) s += "-" + keys[i] + "-" + ext[keys[i]];
    return s;
  }

  function digitOptions(options, mnfdDefault, mxfdDefault, notation) {
    const mnid = getNumberOpt(options, "minimumIntegerDigits", 1, 21, 1);
    const mnfd = options.minimumFractionDigits, mxfd = options.maximumFractionDigits;
    const mnsd = options.minimumSignificantDigits, mxsd = options.maximumSignificantDigits;
    const r = { minimumIntegerDigits: mnid };
    const hasSd = mnsd !== undefined || mxsd !== undefined;
    const hasFd = mnfd !== undefined || mxfd !== undefined;
    const needSd = hasSd;
    const needFd = !(needSd || (!hasFd && notation === "compact"));
    if (needSd) {
      r.minimumSignificantDigits = defaultNumber(mnsd, 1, 21, 1, "minimumSignificantDigits");
      r.maximumSignificantDigits = defaultNumber(mxsd, r.minimumSignificantDigits, 21, 21, "maximumSignificantDigits");
    }
    if (needFd) {
      if (hasFd) {
        let lo = defaultNumber(mnfd, 0, 100, undefined, "minimumFractionDigits");
        let hi = defaultNumber(mxfd, 0, 100, undefined, "maximumFractionDigits");
        if (lo === undefined) lo = Math.min(mnfdDefault, hi);
        else if (hi === undefined) hi = Math.max(mxfdDefault, lo);
        else if (lo > hi) throw new RangeError("maximumFractionDigits value is out of range.");
        r.minimumFractionDigits = lo; r.maximumFractionDigits = hi;
      } else {
        r.minimumFractionDigits = mnfdDefault; r.maximumFractionDigits = mxfdDefault;
      }
    }
    if (!needSd && !needFd) {
      // Compact notation's default: whole numbers, or two significant
      // digits when that shows more.
      r.minimumSignificantDigits = 1; r.maximumSignificantDigits = 2;
      r.minimumFractionDigits = 0; r.maximumFractionDigits = 0;
      r.compactRounding = true;
    }
    return r;
  }
  // Each constructor (with its prototype) is built on first use: a Worker
  // that formats a number pays for NumberFormat only.
  const builders = {}, built = {};
  let createDTF; // DateTimeFormat's, for toLocaleString
  function ctor(name) {
    let c = built[name];
    if (c === undefined) {
      c = built[name] = builders[name]();
      Object.defineProperty(c, "length", { value: 0, configurable: true });
      Object.defineProperty(c, "name", { value: name, configurable: true });
    }
    return c;
  }

  // --- NumberFormat ---
  builders.NumberFormat = function () {
    const nfState = new WeakMap();
    function NumberFormat(locales, options) {
      if (!new.target) return new NumberFormat(locales, options);
      const requested = canonList(locales);
      options = coerceOptions(options);
      getOpt(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const nu = getOpt(options, "numberingSystem", undefined, undefined);
      if (nu !== undefined && !/^[a-zA-Z0-9]{3,8}(-[a-zA-Z0-9]{3,8})*$/.test(nu)) throw new RangeError("Invalid numberingSystem : " + nu);
      const locale = N.resolve(requested);
      const style = getOpt(options, "style", ["decimal", "percent", "currency", "unit"], "decimal");
      let currency = getOpt(options, "currency", undefined, undefined);
      if (currency !== undefined) {
        if (!/^[A-Za-z]{3}$/.test(currency)) throw new RangeError("Invalid currency code : " + currency);
        currency = currency.toUpperCase();
      }
      const currencyDisplay = getOpt(options, "currencyDisplay", ["code", "symbol", "narrowSymbol", "name"], "symbol");
      const currencySign = getOpt(options, "currencySign", ["standard", "accounting"], "standard");
      const unit = getOpt(options, "unit", undefined, undefined);
      if (unit !== undefined && !N.hasUnit(unit)) throw new RangeError("Invalid unit argument for Intl.NumberFormat() '" + unit + "'");
      const unitDisplay = getOpt(options, "unitDisplay", ["short", "narrow", "long"], "short");
      if (style === "currency" && currency === undefined) throw new TypeError("Currency code is required with currency style.");
      if (style === "unit" && unit === undefined) throw new TypeError("Unit is required with unit style.");
      const notation = getOpt(options, "notation", ["standard", "scientific", "engineering", "compact"], "standard");
      let mnfdDefault = 0, mxfdDefault = 3;
      if (style === "currency" && notation === "standard") { mnfdDefault = mxfdDefault = N.currencyDigits(currency); }
      else if (style === "percent") mxfdDefault = 0;
      const digits = digitOptions(options, mnfdDefault, mxfdDefault, notation);
      const compactDisplay = getOpt(options, "compactDisplay", ["short", "long"], "short");
      let useGrouping = options.useGrouping;
      const groupingDefault = notation === "compact" ? "min2" : "auto";
      if (useGrouping === undefined) useGrouping = groupingDefault;
      else if (useGrouping === true) useGrouping = "always";
      else if (!useGrouping) useGrouping = false;
      else {
        useGrouping = String(useGrouping);
        if (useGrouping === "true" || useGrouping === "false") useGrouping = groupingDefault;
        else if (!["min2", "auto", "always"].includes(useGrouping)) throw new RangeError("Value " + useGrouping + " out of range for Intl.NumberFormat options property useGrouping");
      }
      const signDisplay = getOpt(options, "signDisplay", ["auto", "never", "always", "exceptZero", "negative"], "auto");
      const ext = {};
      const numberingSystem = numbering(requested, locale, nu, ext);
      const r = { locale: withExtensions(locale, ext), numberingSystem, style };
      if (style === "currency") Object.assign(r, { currency, currencyDisplay, currencySign });
      if (style === "unit") Object.assign(r, { unit, unitDisplay });
      Object.assign(r, { minimumIntegerDigits: digits.minimumIntegerDigits });
      if (digits.minimumSignificantDigits !== undefined) Object.assign(r, { minimumSignificantDigits: digits.minimumSignificantDigits, maximumSignificantDigits: digits.maximumSignificantDigits });
      if (digits.minimumFractionDigits !== undefined) Object.assign(r, { minimumFractionDigits: digits.minimumFractionDigits, maximumFractionDigits: digits.maximumFractionDigits });
      Object.assign(r, { useGrouping, notation });
      if (notation === "compact") r.compactDisplay = compactDisplay;
      Object.assign(r, { signDisplay, roundingMode: "halfExpand", roundingIncrement: 1, trailingZeroDisplay: "auto", roundingPriority: digits.compactRounding ? "morePrecision" : "auto" });
      const h = N.numberFormat(locale, {
        style, numberingSystem, unit: unit || "", unitDisplay, currency: currency || "", currencyDisplay, currencySign, notation, compactDisplay, signDisplay,
        useGrouping: String(useGrouping), minInt: digits.minimumIntegerDigits,
        minFrac: digits.minimumFractionDigits || 0, maxFrac: digits.maximumFractionDigits || 0,
        minSig: digits.compactRounding ? 0 : digits.minimumSignificantDigits || 0,
        maxSig: digits.compactRounding ? 0 : digits.maximumSignificantDigits || 0,
        compactRounding: !!digits.compactRounding,
      });
      nfState.set(this, { h, r, bound: undefined });
    }
    function toIntlNumber(x) {
      if (typeof x === "bigint") return String(x);
      return Number(x);
    }
    Object.defineProperty(NumberFormat.prototype, "format", {
      get() {
        checkBrand(this, nfState, "NumberFormat", "format");
        const s = nfState.get(this);
        if (!s.bound) {
          const h = s.h;
          s.bound = function (x) { return N.formatNumber(h, toIntlNumber(x)); };
          Object.defineProperty(s.bound, "name", { value: "" });
        }
        return s.bound;
      },
      configurable: true,
    });
    defineMethods(NumberFormat.prototype, {
      formatToParts(x) {
        checkBrand(this, nfState, "NumberFormat", "formatToParts");
        return toParts(N.formatNumberToParts(nfState.get(this).h, toIntlNumber(x)));
      },
      formatRange(a, b) {
        checkBrand(this, nfState, "NumberFormat", "formatRange");
        if (a === undefined || b === undefined) throw new TypeError("start or end is undefined");
        const s = nfState.get(this);
        const x = toIntlNumber(a), y = toIntlNumber(b);
        if (Number.isNaN(x) || Number.isNaN(y)) throw new RangeError("Invalid number value");
        const fx = N.formatNumber(s.h, x), fy = N.formatNumber(s.h, y);
        const [sep, approx] = N.rangeSymbols(s.r.locale);
        return fx === fy ? approx + fx : fx + sep + fy;
      },
      resolvedOptions() {
        checkBrand(this, nfState, "NumberFormat", "resolvedOptions");
        return Object.assign({}, nfState.get(this).r);
      },
    });
    setTag(NumberFormat, "Intl.NumberFormat");
    return NumberFormat;
  };

  // --- DateTimeFormat ---
  builders.DateTimeFormat = function () {
    const dfState = new WeakMap();
    const DATE_FIELDS = [["weekday", ["narrow", "short", "long"]], ["era", ["narrow", "short", "long"]],
      ["year", ["2-digit", "numeric"]], ["month", ["2-digit", "numeric", "narrow", "short", "long"]], ["day", ["2-digit", "numeric"]]];
    const TIME_FIELDS = [["dayPeriod", ["narrow", "short", "long"]], ["hour", ["2-digit", "numeric"]], ["minute", ["2-digit", "numeric"]],
      ["second", ["2-digit", "numeric"]]];
    function DateTimeFormat(locales, options) {
      if (!new.target) return new DateTimeFormat(locales, options);
      createDateTimeFormat(this, locales, options, "any", "date");
    }
    function createDateTimeFormat(self, locales, options, required, defaults) {
      const requested = canonList(locales);
      options = coerceOptions(options);
      getOpt(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const calendar = getOpt(options, "calendar", undefined, undefined);
      if (calendar !== undefined && calendar !== "gregory" && calendar !== "iso8601" && !/^[a-zA-Z0-9]{3,8}(-[a-zA-Z0-9]{3,8})*$/.test(calendar)) throw new RangeError("Invalid calendar : " + calendar);
      const nu = getOpt(options, "numberingSystem", undefined, undefined);
      if (nu !== undefined && !/^[a-zA-Z0-9]{3,8}(-[a-zA-Z0-9]{3,8})*$/.test(nu)) throw new RangeError("Invalid numberingSystem : " + nu);
      let hour12 = options.hour12;
      if (hour12 !== undefined) hour12 = Boolean(hour12);
      let hourCycle = getOpt(options, "hourCycle", ["h11", "h12", "h23", "h24"], undefined);
      if (hour12 !== undefined) hourCycle = undefined;
      const locale = N.resolve(requested);
      let tz = options.timeZone;
      let timeZone = "UTC";
      if (tz !== undefined) {
        tz = String(tz);
        timeZone = N.timeZone(tz);
        if (timeZone === "") throw new RangeError("Invalid time zone specified: " + tz);
      }
      const o = {};
      for (const [k, vals] of DATE_FIELDS.slice(0, 5).concat(TIME_FIELDS)) {
        o[k] = getOpt(options, k, vals, undefined);
        if (k === "second") o.fractionalSecondDigits = getNumberOpt(options, "fractionalSecondDigits", 1, 3, undefined);
      }
      o.timeZoneName = getOpt(options, "timeZoneName", ["short", "long", "shortOffset", "longOffset", "shortGeneric", "longGeneric"], undefined);
      getOpt(options, "formatMatcher", ["basic", "best fit"], "best fit");
      const dateStyle = getOpt(options, "dateStyle", ["full", "long", "medium", "short"], undefined);
      const timeStyle = getOpt(options, "timeStyle", ["full", "long", "medium", "short"], undefined);
      if (dateStyle !== undefined || timeStyle !== undefined) {
        for (const k in o) if (o[k] !== undefined) throw new TypeError("Can't set option " + k + " when " + (dateStyle !== undefined ? "dateStyle" : "timeStyle") + " is used");
        if (required === "date" && dateStyle === undefined) throw new TypeError("Invalid option : timeStyle");
        if (required === "time" && timeStyle === undefined) throw new TypeError("Invalid option : dateStyle");
      } else {
        let needDefaults = true;
        if (required === "date" || required === "any") for (const k of ["weekday", "year", "month", "day"]) if (o[k] !== undefined) needDefaults = false;
        if (required === "time" || required === "any") for (const k of ["dayPeriod", "hour", "minute", "second", "fractionalSecondDigits"]) if (o[k] !== undefined) needDefaults = false;
        if (needDefaults && (defaults === "date" || defaults === "all")) o.year = o.month = o.day = "numeric";
        if (needDefaults && (defaults === "time" || defaults === "all")) o.hour = o.minute = o.second = "numeric";
      }
      // The hour cycle: hour12 wins, then hourCycle, then the locale's.
      const [localeHc, hc12, hc24] = N.hourCycles(locale);
      const ext = {};
      const numberingSystem = numbering(requested, locale, nu, ext);
      if (hour12 === undefined && hourCycle === undefined && requested.length) {
        const fromTag = N.extension(requested[0], "hc");
        if (["h11", "h12", "h23", "h24"].includes(fromTag)) hourCycle = ext.hc = fromTag;
      }
      let hc;
      if (hour12 !== undefined) hc = hour12 ? hc12 : hc24;
      else if (hourCycle !== undefined) hc = hourCycle;
      else hc = localeHc;
      const usesHour = o.hour !== undefined || (timeStyle !== undefined);
      const h12 = hour12 !== undefined ? hour12 : hourCycle !== undefined ? (hourCycle === "h11" || hourCycle === "h12") : undefined;
      const r = { locale: withExtensions(locale, ext), calendar: "gregory", numberingSystem, timeZone };
      if (usesHour) { r.hourCycle = hc; r.hour12 = hc === "h11" || hc === "h12"; }
      for (const k of ["weekday", "era", "year", "month", "day", "dayPeriod", "hour", "minute", "second", "fractionalSecondDigits", "timeZoneName"]) {
        if (o[k] === undefined) continue;
        let v = o[k];
        // ICU always shows minutes and seconds with two digits next to an hour.
        if ((k === "minute" || k === "second") && o.hour !== undefined) v = "2-digit";
        r[k] = v;
      }
      if (dateStyle !== undefined) r.dateStyle = dateStyle;
      if (timeStyle !== undefined) r.timeStyle = timeStyle;
      const h = N.dateTimeFormat(locale, {
        weekday: o.weekday || "", era: o.era || "", year: o.year || "", month: o.month || "", day: o.day || "",
        hour: o.hour || "", minute: o.minute || "", second: o.second || "", timeZoneName: o.timeZoneName || "",
        fractionalSecondDigits: o.fractionalSecondDigits || 0,
        numberingSystem, hour12: h12 === undefined ? "" : String(h12), hourCycle: hc, dateStyle: dateStyle || "", timeStyle: timeStyle || "", timeZone,
      });
      if (r.hour !== undefined) r.hour = N.hourDigits(h);
      dfState.set(self, { h, r, bound: undefined });
      return self;
    }
    function toTime(date) {
      let x = date === undefined ? Date.now() : Number(date);
      if (!Number.isFinite(x) || Math.abs(x) > 8.64e15) throw new RangeError("Invalid time value");
      return Math.trunc(x) + 0;
    }
    Object.defineProperty(DateTimeFormat.prototype, "format", {
      get() {
        checkBrand(this, dfState, "DateTimeFormat", "format");
        const s = dfState.get(this);
        if (!s.bound) {
          const h = s.h;
          s.bound = function (date) { return N.formatDate(h, toTime(date)); };
          Object.defineProperty(s.bound, "name", { value: "" });
        }
        return s.bound;
      },
      configurable: true,
    });
    defineMethods(DateTimeFormat.prototype, {
      formatToParts(date) {
        checkBrand(this, dfState, "DateTimeFormat", "formatToParts");
        return toParts(N.formatDateToParts(dfState.get(this).h, toTime(date)));
      },
      formatRange(a, b) {
        checkBrand(this, dfState, "DateTimeFormat", "formatRange");
        if (a === undefined || b === undefined) throw new TypeError("startDate or endDate is undefined");
        const s = dfState.get(this);
        const x = N.formatDate(s.h, toTime(a)), y = N.formatDate(s.h, toTime(b));
        return x === y ? x : x + N.rangeSymbols(s.r.locale)[2] + y;
      },
      resolvedOptions() {
        checkBrand(this, dfState, "DateTimeFormat", "resolvedOptions");
        return Object.assign({}, dfState.get(this).r);
      },
    });
    setTag(DateTimeFormat, "Intl.DateTimeFormat");
    createDTF = createDateTimeFormat;
    return DateTimeFormat;
  };

  // --- Collator ---
  builders.Collator = function () {
    const colState = new WeakMap();
    function Collator(locales, options) {
      if (!new.target) return new Collator(locales, options);
      const requested = canonList(locales);
      options = coerceOptions(options);
      const usage = getOpt(options, "usage", ["sort", "search"], "sort");
      getOpt(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const collation = getOpt(options, "collation", undefined, undefined);
      if (collation !== undefined && !/^[a-zA-Z0-9]{3,8}(-[a-zA-Z0-9]{3,8})*$/.test(collation)) throw new RangeError("Invalid collation : " + collation);
      const numeric = getBool(options, "numeric", false);
      const caseFirst = getOpt(options, "caseFirst", ["upper", "lower", "false"], "false");
      const sensitivity = getOpt(options, "sensitivity", ["base", "accent", "case", "variant"], "variant");
      const ignorePunctuation = getBool(options, "ignorePunctuation", false);
      const locale = N.resolve(requested);
      const h = N.collator(locale, sensitivity, numeric, ignorePunctuation);
      colState.set(this, { h, bound: undefined, r: { locale, usage, sensitivity, ignorePunctuation, collation: "default", numeric, caseFirst } });
    }
    Object.defineProperty(Collator.prototype, "compare", {
      get() {
        checkBrand(this, colState, "Collator", "compare");
        const s = colState.get(this);
        if (!s.bound) {
          const h = s.h;
          s.bound = function (a, b) { return N.compare(h, String(a), String(b)); };
          Object.defineProperty(s.bound, "name", { value: "" });
        }
        return s.bound;
      },
      configurable: true,
    });
    defineMethods(Collator.prototype, {
      resolvedOptions() {
        checkBrand(this, colState, "Collator", "resolvedOptions");
        return Object.assign({}, colState.get(this).r);
      },
    });
    setTag(Collator, "Intl.Collator");
    return Collator;
  };

  // --- PluralRules ---
  builders.PluralRules = function () {
    const prState = new WeakMap();
    function PluralRules(locales, options) {
      if (!new.target) throw new TypeError("Constructor Intl.PluralRules requires 'new'");
      const requested = canonList(locales);
      options = coerceOptions(options);
      getOpt(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const type = getOpt(options, "type", ["cardinal", "ordinal"], "cardinal");
      const digits = digitOptions(options, 0, 3, "standard");
      const locale = N.resolve(requested);
      const h = N.numberFormat(locale, {
        style: "decimal", unit: "", unitDisplay: "short", currency: "", currencyDisplay: "symbol", currencySign: "standard", notation: "standard", compactDisplay: "short",
        signDisplay: "auto", useGrouping: "false", minInt: digits.minimumIntegerDigits,
        minFrac: digits.minimumFractionDigits || 0, maxFrac: digits.maximumFractionDigits || 0,
        minSig: digits.minimumSignificantDigits || 0, maxSig: digits.maximumSignificantDigits || 0, compactRounding: false,
      });
      const r = { locale, type, minimumIntegerDigits: digits.minimumIntegerDigits };
      if (digits.minimumFractionDigits !== undefined) Object.assign(r, { minimumFractionDigits: digits.minimumFractionDigits, maximumFractionDigits: digits.maximumFractionDigits });
      if (digits.minimumSignificantDigits !== undefined) Object.assign(r, { minimumSignificantDigits: digits.minimumSignificantDigits, maximumSignificantDigits: digits.maximumSignificantDigits });
      r.pluralCategories = N.pluralCategories(locale, type);
      prState.set(this, { h, r, type, locale });
    }
    defineMethods(PluralRules.prototype, {
      select(n) {
        checkBrand(this, prState, "PluralRules", "select");
        const s = prState.get(this);
        return N.plural(s.h, s.type, Number(n));
      },
      resolvedOptions() {
        checkBrand(this, prState, "PluralRules", "resolvedOptions");
        const r = Object.assign({}, prState.get(this).r);
        r.pluralCategories = r.pluralCategories.slice();
        return r;
      },
    });
    setTag(PluralRules, "Intl.PluralRules");
    return PluralRules;
  };

  // --- RelativeTimeFormat ---
  builders.RelativeTimeFormat = function () {
    const rtState = new WeakMap();
    function RelativeTimeFormat(locales, options) {
      if (!new.target) throw new TypeError("Constructor Intl.RelativeTimeFormat requires 'new'");
      const requested = canonList(locales);
      options = coerceOptions(options);
      getOpt(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const nu = getOpt(options, "numberingSystem", undefined, undefined);
      if (nu !== undefined && !/^[a-zA-Z0-9]{3,8}(-[a-zA-Z0-9]{3,8})*$/.test(nu)) throw new RangeError("Invalid numberingSystem : " + nu);
      const locale = N.resolve(requested);
      const style = getOpt(options, "style", ["long", "short", "narrow"], "long");
      const numeric = getOpt(options, "numeric", ["always", "auto"], "always");
      const ext = {};
      const numberingSystem = numbering(requested, locale, nu, ext);
      rtState.set(this, { h: N.relativeTimeFormat(locale, style, numeric, numberingSystem), r: { locale: withExtensions(locale, ext), style, numeric, numberingSystem } });
    }
    defineMethods(RelativeTimeFormat.prototype, {
      format(value, unit) {
        checkBrand(this, rtState, "RelativeTimeFormat", "format");
        return N.formatRelative(rtState.get(this).h, Number(value), String(unit), false);
      },
      formatToParts(value, unit) {
        checkBrand(this, rtState, "RelativeTimeFormat", "formatToParts");
        const raw = N.formatRelative(rtState.get(this).h, Number(value), String(unit), true);
        const out = [];
        for (let i = 0; i < raw.length; i += 3) {
          const p = { type: raw[i], value: raw[i + 1] };
          if (raw[i + 2]) p.unit = raw[i + 2];
          out.push(p);
        }
        return out;
      },
      resolvedOptions() {
        checkBrand(this, rtState, "RelativeTimeFormat", "resolvedOptions");
        return Object.assign({}, rtState.get(this).r);
      },
    });
    setTag(RelativeTimeFormat, "Intl.RelativeTimeFormat");
    return RelativeTimeFormat;
  };

  // --- ListFormat ---
  builders.ListFormat = function () {
    const lfState = new WeakMap();
    const MAX_LIST = 1 << 20;
    function ListFormat(locales, options) {
      if (!new.target) throw new TypeError("Constructor Intl.ListFormat requires 'new'");
      const requested = canonList(locales);
      if (options === undefined) options = Object.create(null);
      else if (typeof options !== "object" || options === null) throw new TypeError("Options must be an object");
      getOpt(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const locale = N.resolve(requested);
      const type = getOpt(options, "type", ["conjunction", "disjunction", "unit"], "conjunction");
      const style = getOpt(options, "style", ["long", "short", "narrow"], "long");
      lfState.set(this, { locale, kind: type + ":" + style, r: { locale, type, style } });
    }
    function stringList(list) {
      if (list === undefined) return [];
      const out = [];
      for (const v of list) {
        if (typeof v !== "string") throw new TypeError("Iterable yielded " + String(typeof v) + " which is not a string");
        if (out.length >= MAX_LIST) throw new RangeError("Intl.ListFormat: too many items");
        out.push(v);
      }
      return out;
    }
    defineMethods(ListFormat.prototype, {
      format(list) {
        checkBrand(this, lfState, "ListFormat", "format");
        const s = lfState.get(this);
        return N.formatList(s.locale, s.kind, stringList(list), false);
      },
      formatToParts(list) {
        checkBrand(this, lfState, "ListFormat", "formatToParts");
        const s = lfState.get(this);
        return toParts(N.formatList(s.locale, s.kind, stringList(list), true));
      },
      resolvedOptions() {
        checkBrand(this, lfState, "ListFormat", "resolvedOptions");
        return Object.assign({}, lfState.get(this).r);
      },
    });
    setTag(ListFormat, "Intl.ListFormat");
    return ListFormat;
  };

  // --- Segmenter ---
  builders.Segmenter = function () {
    const sgState = new WeakMap();
    function Segmenter(locales, options) {
      if (!new.target) throw new TypeError("Constructor Intl.Segmenter requires 'new'");
      const requested = canonList(locales);
      options = coerceOptions(options);
      getOpt(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const locale = N.resolve(requested);
      const granularity = getOpt(options, "granularity", ["grapheme", "word", "sentence"], "grapheme");
      sgState.set(this, { locale, granularity });
    }
    const segmentsState = new WeakMap(), segIterState = new WeakMap();
    function segmentData(input, granularity, seg) {
      const d = { segment: input.slice(seg[0], seg[0] + seg[1]), index: seg[0], input };
      if (granularity === "word") d.isWordLike = seg[2];
      return d;
    }
    const SegmentsPrototype = {};
    const SegmentIteratorPrototype = Object.create(Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())));
    defineMethods(SegmentsPrototype, {
      containing(index) {
        const s = segmentsState.get(this);
        if (!s) throw new TypeError("Method %Segments.prototype%.containing called on incompatible receiver");
        let n = Math.trunc(Number(index)) || 0;
        if (n < 0 || n >= s.input.length) return undefined;
        const h = N.segmenter(s.granularity, s.input);
        for (;;) {
          const seg = N.nextSegment(h);
          if (seg === null) return undefined;
          if (n < seg[0] + seg[1]) return segmentData(s.input, s.granularity, seg);
        }
      },
    });
    // (defineMethods takes string keys only.)
    Object.defineProperty(SegmentsPrototype, Symbol.iterator, {
      writable: true, configurable: true,
      value: function () {
        const s = segmentsState.get(this);
        if (!s) throw new TypeError("Method %Segments.prototype%[@@iterator] called on incompatible receiver");
        const it = Object.create(SegmentIteratorPrototype);
        segIterState.set(it, { h: N.segmenter(s.granularity, s.input), input: s.input, granularity: s.granularity });
        return it;
      },
    });
    defineMethods(SegmentIteratorPrototype, {
      next() {
        const s = segIterState.get(this);
        if (!s) throw new TypeError("Method %SegmentIterator.prototype%.next called on incompatible receiver");
        const seg = N.nextSegment(s.h);
        if (seg === null) return { value: undefined, done: true };
        return { value: segmentData(s.input, s.granularity, seg), done: false };
      },
    });
    Object.defineProperty(SegmentIteratorPrototype, Symbol.toStringTag, { value: "Segmenter String Iterator", configurable: true });
    defineMethods(Segmenter.prototype, {
      segment(string) {
        checkBrand(this, sgState, "Segmenter", "segment");
        const segs = Object.create(SegmentsPrototype);
        segmentsState.set(segs, { input: String(string), granularity: sgState.get(this).granularity });
        return segs;
      },
      resolvedOptions() {
        checkBrand(this, sgState, "Segmenter", "resolvedOptions");
        const s = sgState.get(this);
        return { locale: s.locale, granularity: s.granularity };
      },
    });
    setTag(Segmenter, "Intl.Segmenter");
    return Segmenter;
  };

  // --- DisplayNames ---
  builders.DisplayNames = function () {
    const dnState = new WeakMap();
    function DisplayNames(locales, options) {
      if (!new.target) throw new TypeError("Constructor Intl.DisplayNames requires 'new'");
      const requested = canonList(locales);
      if (options === undefined) throw new TypeError("Intl.DisplayNames: options with a type are required");
      options = toObject(options);
      getOpt(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const style = getOpt(options, "style", ["narrow", "short", "long"], "long");
      const type = getOpt(options, "type", ["language", "region", "script", "currency", "calendar", "dateTimeField"], undefined);
      if (type === undefined) throw new TypeError("Intl.DisplayNames: the type option is required");
      const fallback = getOpt(options, "fallback", ["code", "none"], "code");
      const languageDisplay = getOpt(options, "languageDisplay", ["dialect", "standard"], "dialect");
      const locale = N.resolve(requested);
      const r = { locale, style, type, fallback };
      if (type === "language") r.languageDisplay = languageDisplay;
      dnState.set(this, r);
    }
    defineMethods(DisplayNames.prototype, {
      of(code) {
        checkBrand(this, dnState, "DisplayNames", "of");
        const s = dnState.get(this);
        return N.displayName(s.locale, s.type, s.style, s.languageDisplay || "", String(code), s.fallback);
      },
      resolvedOptions() {
        checkBrand(this, dnState, "DisplayNames", "resolvedOptions");
        return Object.assign({}, dnState.get(this));
      },
    });
    setTag(DisplayNames, "Intl.DisplayNames");
    return DisplayNames;
  };

  // --- Locale ---
  builders.Locale = function () {
    locState = new WeakMap();
    const KEY_RE = /^[a-zA-Z0-9]{3,8}(-[a-zA-Z0-9]{3,8})*$/;
    function Locale(tag, options) {
      if (!new.target) throw new TypeError("Constructor Intl.Locale requires 'new'");
      if (typeof tag !== "string" && (typeof tag !== "object" || tag === null)) throw new TypeError("First argument to Intl.Locale constructor can't be empty or missing");
      tag = locState.has(tag) ? locState.get(tag)[0] : String(tag);
      options = coerceOptions(options);
      const o = {};
      const checks = {
        calendar: v => KEY_RE.test(v), collation: v => KEY_RE.test(v), numberingSystem: v => KEY_RE.test(v),
        hourCycle: v => ["h11", "h12", "h23", "h24"].includes(v), caseFirst: v => ["upper", "lower", "false"].includes(v),
      };
      for (const k of ["language", "script", "region", "calendar", "collation", "hourCycle", "caseFirst", "numeric", "numberingSystem"]) {
        let v = options[k];
        if (v === undefined) continue;
        v = k === "numeric" ? String(Boolean(v)) : String(v);
        if (checks[k] && !checks[k](v)) throw new RangeError("Incorrect locale information provided");
        o[k] = v;
      }
      locState.set(this, N.locale(tag, o));
    }
    const LOCALE_FIELDS = ["baseName", "language", "script", "region", "calendar", "collation", "hourCycle", "caseFirst", "numeric", "numberingSystem"];
    for (let i = 0; i < LOCALE_FIELDS.length; i++) {
      const name = LOCALE_FIELDS[i];
      Object.defineProperty(Locale.prototype, name, {
        get() {
          if (!locState.has(this)) throw new TypeError("Method Intl.Locale.prototype." + name + " called on incompatible receiver " + String(this));
          return locState.get(this)[i + 1];
        },
        configurable: true,
      });
    }
    defineMethods(Locale.prototype, {
      toString() {
        if (!locState.has(this)) throw new TypeError("Method Intl.Locale.prototype.toString called on incompatible receiver");
        return locState.get(this)[0];
      },
      maximize() {
        if (!locState.has(this)) throw new TypeError("Method Intl.Locale.prototype.maximize called on incompatible receiver");
        return new Locale(N.maximize(locState.get(this)[0]));
      },
      minimize() {
        if (!locState.has(this)) throw new TypeError("Method Intl.Locale.prototype.minimize called on incompatible receiver");
        return new Locale(N.minimize(locState.get(this)[0]));
      },
    });
    Object.defineProperty(Locale.prototype, Symbol.toStringTag, { value: "Intl.Locale", configurable: true });
    return Locale;
  };

  // Intl's constructors are accessors until first read (or assigned):
  // then they become ordinary data properties.
  const Intl = {};
  const names = ["Collator", "DateTimeFormat", "DisplayNames", "ListFormat", "Locale", "NumberFormat", "PluralRules", "RelativeTimeFormat", "Segmenter"];
  for (let i = 0; i < names.length; i++) {
    const k = names[i];
    const settle = v => { Object.defineProperty(Intl, k, { value: v, writable: true, configurable: true, enumerable: false }); };
    Object.defineProperty(Intl, k, {
      get() { const v = ctor(k); settle(v); return v; },
      set(v) { settle(v); },
      configurable: true,
      enumerable: false,
    });
  }
  defineMethods(Intl, {
    getCanonicalLocales(locales) { return canonList(locales); },
    supportedValuesOf(key) {
      key = String(key);
      const v = N.supportedValues(key);
      if (v === null) throw new RangeError("Invalid key : " + key);
      return v;
    },
  });
  Object.defineProperty(Intl, Symbol.toStringTag, { value: "Intl", configurable: true });

  // The locale-sensitive methods of the built-in prototypes. Formatters
  // for a locale string without options are kept (a sort comparing with
  // a.localeCompare(b, "de") must not build a collator per comparison).
  const MAX_CACHED = 32;
  const caches = {};
  function cached(kind, locales, options, make) {
    if (options !== undefined || (locales !== undefined && typeof locales !== "string")) return make();
    const cache = caches[kind] || (caches[kind] = new Map());
    const key = locales === undefined ? "" : locales;
    let f = cache.get(key);
    if (f === undefined) {
      f = make();
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(key, f);
    }
    return f;
  }
  const helpers = {
    numberToLocaleString(x, locales, options) {
      return cached("number", locales, options, () => new (ctor("NumberFormat"))(locales, options)).format(x);
    },
    dateToLocaleString(t, locales, options, required, defaults) {
      if (Number.isNaN(t)) return "Invalid Date";
      const DateTimeFormat = ctor("DateTimeFormat");
      return cached("date-" + required, locales, options,
        () => createDTF(Object.create(DateTimeFormat.prototype), locales, options, required, defaults)).format(t);
    },
    localeCompare(a, b, locales, options) {
      return cached("collator", locales, options, () => new (ctor("Collator"))(locales, options)).compare(a, b);
    },
  };
  return { Intl, helpers };
})
