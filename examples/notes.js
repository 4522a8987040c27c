// Notes per user, each user a Durable Object with a SQLite database
// (ctx.storage.sql) kept in its replicated storage.
//   warren deploy --do NOTES=Notes notes examples/notes.js
//   curl -d 'buy milk' NODE/w/notes/ada                 # add: {"id":1,"count":1}
//   curl 'NODE/w/notes/ada?q=milk'                      # search: [{"id":1,"text":"buy milk",...}]
import { DurableObject } from "cloudflare:workers";

export class Notes extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS notes (
      id INTEGER PRIMARY KEY,
      text TEXT NOT NULL,
      at INTEGER NOT NULL
    )`);
  }

  add(text) {
    const { id } = this.sql.exec("INSERT INTO notes (text, at) VALUES (?, ?) RETURNING id", text, Date.now()).one();
    return { id, count: this.sql.exec("SELECT count(*) AS n FROM notes").one().n };
  }

  search(q) {
    return this.sql.exec("SELECT id, text, at FROM notes WHERE text LIKE ? ORDER BY id DESC LIMIT 50", `%${q}%`).toArray();
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const user = url.pathname.split("/").filter(Boolean).pop() || "anon";
    const notes = env.NOTES.getByName(user);
    if (request.method === "POST") {
      const text = await request.text();
      if (text.length === 0 || text.length > 2000) return new Response("a note is 1 to 2000 characters\n", { status: 400 });
      return Response.json(await notes.add(text));
    }
    return Response.json(await notes.search(url.searchParams.get("q") ?? ""));
  },
};
