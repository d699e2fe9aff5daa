/**
 * HTTP/1.1 over a bare TCP socket, for what `inject` cannot show: answers sent before a body is,
 * connections refused at accept, connections held open.
 */
import { connect, type Socket } from 'node:net'

/**
 * Writes `request` on a new connection and resolves with everything the server sends until the
 * connection ends. A connection the server resets counts as ended: what arrived before is returned.
 */
export async function rawExchange (port: number, request: string): Promise<string> {
  const socket = await openConnection(port)
  socket.write(request)
  return await received(socket)
}

/** A connected socket. */
export async function openConnection (port: number): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** Everything the server sends on `socket` until the connection ends. */
export async function received (socket: Socket): Promise<string> {
  return await new Promise((resolve) => {
    let text = ''
    socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1') })
    socket.on('error', () => { /* a reset ends the connection like a close */ })
    socket.once('close', () => resolve(text))
  })
}
