# A Python Worker, in the shape of Cloudflare's Python Workers.
#   bin/warren run --var GREETING=hello -X POST -d '{"name": "Ada"}' examples/python/worker.py
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        data = await request.json() if request.method == "POST" else {}
        name = data.get("name", "world")
        print("greeting", name)  # a log line
        return Response.json({"message": f"{self.env.GREETING}, {name}!"}, headers={"x-powered-by": "python"})
