// The smallest Worker: `warren run examples/hello.ts`.
export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    console.log(`hello from ${url.pathname}`);
    return new Response(`Hello from warren! You asked for ${url.pathname}\n`, {
      headers: { "content-type": "text/plain" },
    });
  },
};
