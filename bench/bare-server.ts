/**
 * bench:serve's baseline, run as its own process: node:http answering every request (its body read
 * and dropped) with one constant JSON body. Usage: bare-server.ts <port> <body>.
 */
import http from 'node:http';

const [port, body] = process.argv.slice(2);
http
  .createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  })
  .listen(Number(port), '127.0.0.1', () => console.log('listening'));
