/**
 * The SSRF guard of the webhook sink. The check runs inside the connection itself, on the very
 * address the socket is about to use: a name resolved here cannot resolve to something else by the
 * time it is connected to (no DNS-rebinding window between a check and the connect).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { buildConnector } from 'undici'

export class SsrfRefusedError extends Error {
  override readonly name = 'SsrfRefusedError'
  readonly code = 'ERR_SSRF_REFUSED'
}

/** IPv6 global unicast (RFC 4291 §2.4, IANA): the only IPv6 block with public destinations. */
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3')
/** The deprecated IPv4-compatible form `::a.b.c.d` (RFC 4291 §2.5.5.1), which some stacks route to the IPv4 address. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96')

/**
 * Why connecting to `address` is refused, or undefined when it is an ordinary public address.
 * Everything ipaddr.js does not call `unicast` is refused: loopback, private (RFC 1918), link-local
 * (cloud metadata at 169.254.169.254), CGNAT, unique-local, multicast, reserved and documentation
 * ranges, and IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo). An IPv4-mapped
 * address is judged as the IPv4 address it is. Any other IPv6 address must also be global unicast
 * (2000::/3): ipaddr.js calls all of the unassigned space `unicast`, the IPv4-compatible `::/96`
 * (`::7f00:1` is 127.0.0.1) included.
 */
export function refusalReason (address: string): string | undefined {
  if (!ipaddr.isValid(address)) return 'not_an_ip_address'
  const parsed = ipaddr.process(withoutDottedQuad(address))
  const range = parsed.range()
  if (range !== 'unicast') return range
  if (parsed.kind() === 'ipv6') {
    if (parsed.match(IPV4_COMPATIBLE)) return 'ipv4Compatible'
    if (!parsed.match(IPV6_GLOBAL_UNICAST)) return 'notGlobalUnicast'
  }
  return undefined
}

/**
 * ipaddr.js reads every IPv6 address written with a dotted quad as IPv4-mapped (`::127.0.0.1` as
 * `::ffff:127.0.0.1`); the URL parser writes it in hex as the address it is (`::7f00:1`).
 */
function withoutDottedQuad (address: string): string {
  if (!address.includes('.') || isIP(address) !== 6) return address
  const literal = `http://[${address}]/`
  return URL.canParse(literal) ? new URL(literal).hostname.slice(1, -1) : address
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** dns.lookup that refuses an answer holding any non-public address. Serves both `all` and single-answer callers. */
export function guardedLookup (hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error !== null) return callback(error, [])
    for (const { address } of addresses) {
      const reason = refusalReason(address)
      if (reason !== undefined) {
        return callback(new SsrfRefusedError(`${hostname} resolves to ${address} (${reason}); set allow_private_networks: true to allow it`), [])
      }
    }
    if (options.all === true) return callback(null, addresses)
    const first = addresses[0]
    if (first === undefined) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), [])
    callback(null, first.address, first.family)
  })
}

/**
 * An undici connector that checks IP literals itself (the socket never calls `lookup` for them) and
 * resolves names through `guardedLookup`.
 */
export function guardedConnector (timeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs, lookup: guardedLookup as never })
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1')
    if (isIP(host) !== 0) {
      const reason = refusalReason(host)
      if (reason !== undefined) {
        callback(new SsrfRefusedError(`${host} is a ${reason} address; set allow_private_networks: true to allow it`), null)
        return
      }
    }
    connect(options, callback)
  }
}
