export type Handler = (req: Request, params: Record<string, string>) => Response | Promise<Response>;

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
}

export class Router {
  #routes: Route[] = [];

  get(path: string, h: Handler): this {
    return this.add("GET", path, h);
  }

  post(path: string, h: Handler): this {
    return this.add("POST", path, h);
  }

  private add(method: string, path: string, handler: Handler): this {
    this.#routes.push({ method, parts: path.split("/").filter(Boolean), handler });
    return this;
  }

  async handle(req: Request): Promise<Response> {
    const parts = new URL(req.url).pathname.split("/").filter(Boolean);
    for (const r of this.#routes) {
      if (r.method !== req.method || r.parts.length !== parts.length) continue;
      const params: Record<string, string> = {};
      if (r.parts.every((p, i) => (p.startsWith(":") ? ((params[p.slice(1)] = decodeURIComponent(parts[i])), true) : p === parts[i]))) {
        return r.handler(req, params);
      }
    }
    return new Response("not found\n", { status: 404 });
  }
}
