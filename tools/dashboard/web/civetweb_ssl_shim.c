/* civetweb_ssl_shim.c — a shared object named (DT_SONAME) "libssl.so" that
 * gives Debian 12's civetweb 1.15 the one libssl function OpenSSL 3 no longer
 * exports.
 *
 * civetweb dlopen()s "libssl.so" and looks its functions up with dlsym();
 * built against the OpenSSL 1.1 API it calls SSL_get_peer_certificate on
 * every HTTPS connection, which OpenSSL 3 renamed SSL_get1_peer_certificate
 * (same semantics: a new reference), so the pointer is NULL and the worker
 * thread crashes. WebServer loads this object (embedded, from a memfd)
 * before civetweb initialises TLS: glibc's dlopen("libssl.so") then returns
 * it (a loaded object whose soname matches), and dlsym() on it finds this
 * function here and everything else in its dependency, the real libssl.so.3.
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

__attribute__((visibility("default"))) X509* SSL_get_peer_certificate(const SSL* ssl) {
  return SSL_get1_peer_certificate(ssl);
}
