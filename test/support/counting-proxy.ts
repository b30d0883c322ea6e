import net from "node:net";

/**
 * A small HTTP proxy on loopback that counts what goes through it: CONNECT
 * tunnels (host:port) and plain absolute-form requests (their path). Enough to
 * prove that traffic took PROXY_URL; it forwards bytes and nothing else. Plain
 * requests are sent on with `Connection: close`, so that every request opens
 * a connection of its own and is counted.
 */
export function startCountingProxy() {
  const tunnels: string[] = [];
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    client.once("data", (head) => {
      const [method, target] = head.toString("latin1").split("\r\n")[0].split(" ");
      const url = method === "CONNECT" ? new URL(`http://${target}`) : new URL(target);
      if (method === "CONNECT") tunnels.push(target);
      else requests.push(url.pathname);
      const upstream = net.connect(Number(url.port), url.hostname, () => {
        if (method === "CONNECT") client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        else upstream.write(head.toString("latin1").replace(/\r\nconnection:[^\r]*/i, "").replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"), "latin1");
        upstream.pipe(client);
        client.pipe(upstream);
      });
      sockets.add(upstream);
      upstream.on("close", () => sockets.delete(upstream));
      upstream.on("error", () => client.destroy());
    });
  });
  const listening = new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
  return {
    tunnels,
    requests,
    url: listening.then((port) => `http://127.0.0.1:${port}`),
    stop() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
