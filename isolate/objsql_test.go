package isolate

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// sqlSrc exercises ctx.storage.sql: each method returns a string the test
// compares.
const sqlSrc = `import { DurableObject } from "cloudflare:workers";
const err = (f) => { try { f(); return "no error"; } catch (e) { return e.name + ": " + e.message; } };
export class Db extends DurableObject {
  async run(name, ...args) { return String(await this[name](this.ctx.storage.sql, ...args)); }
  create(sql) {
    sql.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)");
    const c = sql.exec("INSERT INTO t (name, score, data) VALUES (?, ?, ?), (?, ?, ?)", "ada", 1.5, new Uint8Array([1, 2, 3]), "bob", null, null);
    return [c.rowsWritten, c.columnNames.length, sql.databaseSize > 0].join(" ");
  }
  read(sql) {
    const rows = sql.exec("SELECT id, name, score, data FROM t ORDER BY id").toArray();
    const one = sql.exec("SELECT count(*) AS n FROM t").one();
    const raw = [...sql.exec("SELECT name FROM t ORDER BY id").raw()].map((r) => r[0]);
    const c = sql.exec("SELECT id, name FROM t WHERE id = ?", 1);
    const blob = rows[0].data;
    return [JSON.stringify(rows.map((r) => [r.id, r.name, r.score])), blob instanceof ArrayBuffer, [...new Uint8Array(blob)].join(","), String(rows[1].data),
      one.n, raw.join(","), c.columnNames.join(","), [...c].length, c.rowsRead].join(" ");
  }
  many(sql, n) {
    sql.exec("CREATE TABLE IF NOT EXISTS m (k INTEGER PRIMARY KEY, v TEXT)");
    for (let i = 0; i < n; i++) sql.exec("INSERT INTO m (v) VALUES (?)", "row " + i + " " + "x".repeat(200));
    return sql.exec("SELECT count(*) AS n, sum(length(v)) AS b FROM m").one().n;
  }
  count(sql) { return sql.exec("SELECT count(*) AS n FROM m").one().n; }
  check(sql) { return sql.exec("PRAGMA integrity_check").raw().toArray().join(","); }
  txn(sql) {
    const s = this.ctx.storage;
    sql.exec("CREATE TABLE IF NOT EXISTS x (v)");
    s.transactionSync(() => { sql.exec("INSERT INTO x VALUES (1)"); sql.exec("INSERT INTO x VALUES (2)"); });
    const thrown = err(() => s.transactionSync(() => { sql.exec("INSERT INTO x VALUES (3)"); throw new Error("abort"); }));
    const nested = s.transactionSync(() => { sql.exec("INSERT INTO x VALUES (4)"); err(() => s.transactionSync(() => { sql.exec("INSERT INTO x VALUES (5)"); throw new Error("inner"); })); return "nested"; });
    return [thrown, nested, sql.exec("SELECT group_concat(v) AS v FROM x").one().v].join(" ");
  }
  refused(sql) {
    return [
      err(() => sql.exec("SELEC 1")),
      err(() => sql.exec("PRAGMA journal_mode=OFF")),
      err(() => sql.exec("ATTACH DATABASE 'other.db' AS o")),
      err(() => sql.exec("BEGIN TRANSACTION")),
      err(() => sql.exec("SELECT ?", 1, 2)),
      err(() => sql.exec("SELECT ?, ?", 1)),
      err(() => sql.exec("SELECT ?", {})),
      err(() => sql.exec("VACUUM INTO 'copy.db'")),
      err(() => sql.exec("SELECT zeroblob(3000000)")),
      err(() => sql.exec("SELECT 1").one().x.y),
      err(() => sql.exec("SELECT 1 WHERE 0").one()),
      sql.exec("SELECT ? AS a, ? AS b, ? AS c", 2n ** 40n, true, 2 ** 60).raw().toArray()[0].join(","),
      sql.exec("PRAGMA table_info(t)").toArray().length,
    ].join(" | ");
  }
  forever(sql) { return sql.exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c").one(); }
  huge(sql) {
    sql.exec("CREATE TABLE IF NOT EXISTS h (v)");
    const e = err(() => sql.exec("INSERT INTO h SELECT randomblob(1000) FROM generate_series(1, 3000)"));
    return e.replace(/\(\d+ KiB\)/, "(N KiB)") + " | " + sql.exec("SELECT count(*) AS n FROM h").one().n;
  }
  mixed(sql) {
    this.ctx.storage.put("kv", 1);
    sql.exec("CREATE TABLE IF NOT EXISTS mixed (v); INSERT INTO mixed VALUES ('both')");
    return "ok";
  }
  async wipeInTxn() {
    let p;
    this.ctx.storage.transactionSync(() => { p = this.ctx.storage.deleteAll(); });
    try { await p; return "no error"; } catch (e) { return e.name + ": " + e.message; }
  }
  syncKV() {
    const kv = this.ctx.storage.kv;
    const before = kv.get("sk");
    kv.put("sk", { n: 1 });
    kv.put("sl", [2]);
    const listed = [...kv.list({ prefix: "s" })].map(([k, v]) => k + "=" + JSON.stringify(v)).join(",");
    const deleted = [kv.delete("sl"), kv.delete("sl")].join(",");
    return [String(before), JSON.stringify(kv.get("sk")), listed, deleted, [...kv.list({ prefix: "s" })].length].join(" ");
  }
  async asyncSeesSync() { return JSON.stringify(await this.ctx.storage.get("sk")); }
  async list() { return JSON.stringify([...(await this.ctx.storage.list()).keys()]); }
  async wipe(sql) {
    await this.ctx.storage.deleteAll();
    const gone = err(() => sql.exec("SELECT * FROM t"));
    sql.exec("CREATE TABLE fresh (v)");
    return gone + " | " + sql.exec("SELECT name FROM sqlite_schema").toArray().map((r) => r.name).join(",");
  }
  tables(sql) { return sql.exec("SELECT name FROM sqlite_schema ORDER BY name").toArray().map((r) => r.name).join(","); }
}
export default { fetch() { return new Response("main") } };
`

// TestObjectSQL is the conformance table of ctx.storage.sql: a SQLite
// database whose pages are the object's storage, kept across instances.
func TestObjectSQL(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, sqlSrc)
		w.code.Limits = &Limits{CPUMs: 5000}
		d := ref("Db", "d")
		run := func(args ...any) string {
			t.Helper()
			res := w.call(d, "run", args...)
			if res.Outcome != OutcomeOK {
				t.Fatalf("%v: %s %s %+v", args, res.Outcome, res.Error, res.Exceptions)
			}
			v, _ := decodeValue(t, res.Value).(string)
			return v
		}
		if got := run("create"); got != "2 0 true" {
			t.Errorf("create: %s", got)
		}
		const wantRead = `[[1,"ada",1.5],[2,"bob",null]] true 1,2,3 null 2 ada,bob id,name 1 1`
		if got := run("read"); got != wantRead {
			t.Errorf("read:\n got %s\nwant %s", got, wantRead)
		}
		// The pages are the object's storage: a new instance reads them.
		w.mu.Lock()
		_, stored := w.data[d.Key()][contract.SQLPageKey(1)]
		w.mu.Unlock()
		if !stored {
			t.Fatalf("page 1 is not in the object's storage")
		}
		w.rt.EvictObject(d)
		if got := run("read"); got != wantRead {
			t.Errorf("read after eviction:\n got %s\nwant %s", got, wantRead)
		}
		// A table larger than a batch, written row by row, is read back
		// whole by a new instance.
		if got := run("many", 2000); got != "2000" {
			t.Errorf("many: %s", got)
		}
		// The first page's header (the database's size, at offset 28)
		// names every page stored: a new instance knows the file's size.
		w.mu.Lock()
		var last uint32
		for k := range w.data[d.Key()] {
			if n, ok := contract.SQLPageNumber(k); ok {
				last = max(last, n)
			}
		}
		header := w.data[d.Key()][contract.SQLPageKey(1)]
		w.mu.Unlock()
		if size := binary.BigEndian.Uint32(header[28:32]); last < 100 || size != last {
			t.Errorf("the header names %d pages, the store holds pages up to %d", size, last)
		}
		w.rt.EvictObject(d)
		if got := run("count"); got != "2000" {
			t.Errorf("count after eviction: %s", got)
		}
		if got := run("check"); got != "ok" {
			t.Errorf("integrity_check after eviction: %s", got)
		}
		if got := run("txn"); got != "Error: abort nested 1,2,4" {
			t.Errorf("txn: %s", got)
		}
		got := run("refused")
		for _, want := range []string{
			`Error: near "SELEC": syntax error: SQLITE_ERROR`,
			"Error: not authorized: SQLITE_AUTH", // PRAGMA journal_mode
			"takes more values than the 1 given",
			"takes 1 values, fewer than the 2 given",
			"cannot be bound",
			"string or blob too big: SQLITE_TOOBIG",
			"Expected exactly one result from SQL query, but got no results.",
			"| 1099511627776,1,1152921504606847000 |",
			"| 4", // PRAGMA table_info is allowed
		} {
			if !strings.Contains(got, want) {
				t.Errorf("refused: %s\nlacks %q", got, want)
			}
		}
		if n := strings.Count(got, "SQLITE_AUTH"); n != 4 {
			t.Errorf("refused: %d authorization denials, want 4 (PRAGMA, ATTACH, BEGIN, VACUUM INTO): %s", n, got)
		}
		if got := run("syncKV"); got != `undefined {"n":1} sk={"n":1},sl=[2] true,false 1` {
			t.Errorf("syncKV: %s", got)
		}
		w.rt.EvictObject(d)
		if got := run("asyncSeesSync"); got != `{"n":1}` {
			t.Errorf("the asynchronous API after the synchronous one: %s", got)
		}
		if got := run("wipeInTxn"); got != "TypeError: deleteAll cannot run inside transactionSync" {
			t.Errorf("wipeInTxn: %s", got)
		}
		// A statement that would change more pages than one batch holds
		// fails and changes nothing.
		if got := run("huge"); !strings.Contains(got, "database or disk is full: one statement or transactionSync may change at most") || !strings.HasSuffix(got, "| 0") {
			t.Errorf("huge: %s", got)
		}
		// SQL pages and KV writes go in one batch; a list shows no page.
		res := w.call(d, "run", "mixed")
		if res.Writes == nil || len(res.Writes.Puts) < 2 || res.Writes.Puts[0].Key != "kv" {
			t.Errorf("mixed: writes %+v", res.Writes)
		}
		if got := run("list"); got != `["kv","sk"]` {
			t.Errorf("list: %s", got)
		}
		// deleteAll empties the database too, at once and for later
		// instances.
		if got := run("wipe"); got != "Error: no such table: t: SQLITE_ERROR | fresh" {
			t.Errorf("wipe: %s", got)
		}
		w.rt.EvictObject(d)
		if got := run("tables"); got != "fresh" {
			t.Errorf("tables after deleteAll and eviction: %s", got)
		}
		// A query that never ends stops at the CPU limit.
		w.code.Limits = &Limits{CPUMs: 100}
		res = w.call(d, "run", "forever")
		if res.Outcome != OutcomeExceededCPU || !res.Reset {
			t.Errorf("forever: %s %s reset=%v", res.Outcome, res.Error, res.Reset)
		}
	})
}

const sqlBoundsSrc = `import { DurableObject } from "cloudflare:workers";
const err = (f) => { try { return "no error: " + f(); } catch (e) { return e.name + ": " + e.message; } };
export class Db extends DurableObject {
  rows() { return err(() => this.ctx.storage.sql.exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 5000000) SELECT x FROM c").toArray().length); }
  blobs() { return err(() => this.ctx.storage.sql.exec("SELECT randomblob(1000000) FROM generate_series(1, 100)").toArray().length); }
  concat() { return err(() => this.ctx.storage.sql.exec("SELECT length(group_concat(randomblob(1000))) AS n FROM generate_series(1, 3000)").one().n); }
  grow() {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE g (v)");
    let i = 0;
    const e = err(() => { for (; ; i++) sql.exec("INSERT INTO g SELECT randomblob(1000) FROM generate_series(1, 200)"); });
    return [e, sql.databaseSize, sql.exec("SELECT count(*) AS n FROM g").one().n === 200 * i, sql.exec("PRAGMA quick_check").raw().toArray().join()].join(" | ");
  }
}
export default { fetch() { return new Response("main") } };`

// TestObjectSQLBounds: what a Durable Object's SQL may hold and return is
// bounded, and each bound ends the statement with a clear error.
func TestObjectSQLBounds(t *testing.T) {
	// SQLite translated to Go runs tens of times slower under -race, with
	// no concurrency of its own to check: make test runs this without.
	skipUnderRace(t)
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, sqlBoundsSrc)
		w.code.Limits = &Limits{CPUMs: 20_000}
		for _, tc := range []struct{ method, want string }{
			{"rows", "Error: the query's result is more than 32 MiB"},
			{"blobs", "Error: the query's result is more than 32 MiB"},
			{"concat", "Error: string or blob too big: SQLITE_TOOBIG"},
		} {
			res := w.call(ref("Db", tc.method), tc.method)
			if got, _ := decodeValue(t, res.Value).(string); got != tc.want {
				t.Errorf("%s: %s %s, got %q, want %q", tc.method, res.Outcome, res.Error, got, tc.want)
			}
		}
		if kind != InProcess {
			return // 128 MiB of pages once is enough
		}
		// A database grows to 128 MiB and no further; what it holds past
		// the instance's page cache is read back from the storage whole.
		res := w.call(ref("Db", "grow"), "grow")
		if got, _ := decodeValue(t, res.Value).(string); got != "Error: database or disk is full: SQLITE_FULL | 134074368 | true | ok" {
			t.Errorf("grow: %s %s %q", res.Outcome, res.Error, got)
		}
	})
}
