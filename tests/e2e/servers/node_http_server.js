// Test server for homeostat's e2e tests: Node's http module, keep-alive.
//
//   /users/<n>   200 JSON
//   /missing     404
//   /error       500
//   /slow        200 after exactly SLOW_MS (default 200) ms
//   /chunked     Transfer-Encoding: chunked, two res.write() calls 10 ms apart, then end
//   /flushed     head flushed alone (flushHeaders), body in two writes 10 ms apart
//   /split       raw socket writes with TCP_NODELAY and 15 ms pauses: the status line,
//                the headers and the body leave in separate packets; Connection: close
//   else         404
// Usage: node node_http_server.js PORT
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
const slowMs = Number(process.env.SLOW_MS || 200);
const later = (ms) => new Promise((r) => setTimeout(r, ms));

function json(res, status, obj) {
  const body = JSON.stringify(obj) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json',
                          'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function split(req, res) {
  const sock = req.socket;
  sock.setNoDelay(true);
  const body = 'hello split world\n';
  const parts = [
    'HTTP/1.1 200 OK\r\n',
    'Content-Type: text/plain\r\n',
    `Content-Length: ${body.length}\r\nConnection: close\r\n`,
    '\r\n',
    body.slice(0, 6),
    body.slice(6),
  ];
  for (const p of parts) {
    if (sock.destroyed) return;
    sock.write(p);
    await later(15);
  }
  sock.end();
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (/^\/users\/\d+$/.test(path)) {
    json(res, 200, { id: path.split('/')[2] });
  } else if (path === '/missing') {
    json(res, 404, { error: 'not found' });
  } else if (path === '/error') {
    json(res, 500, { error: 'boom' });
  } else if (path === '/slow') {
    setTimeout(() => json(res, 200, { slow: true }), slowMs);
  } else if (path === '/chunked') {
    req.socket.setNoDelay(true);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write('first chunk\n');
    setTimeout(() => { res.write('second chunk\n'); res.end(); }, 10);
  } else if (path === '/flushed') {
    req.socket.setNoDelay(true);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
    res.flushHeaders();
    setTimeout(() => {
      res.write('hello');
      setTimeout(() => res.end('world'), 10);
    }, 10);
  } else if (path === '/split') {
    split(req, res).catch(() => req.socket.destroy());
  } else {
    json(res, 404, { error: 'no route' });
  }
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log(`READY ${port}`));
process.on('SIGTERM', () => process.exit(0));
