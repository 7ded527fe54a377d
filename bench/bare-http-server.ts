/**
 * bench:serve's floor, run as its own process: node:http answering every request with the same bytes
 * (Kaizen's features.get answer) once its body has arrived. No framework, no work: what loopback HTTP,
 * the load generator and the machine's scheduling cost per request.
 * Usage: bare-http-server.ts <port> <answer>.
 */
import http from 'node:http';

const [port, answer] = process.argv.slice(2);
const body = Buffer.from(answer);

http
  .createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  })
  .listen(Number(port), '127.0.0.1');
