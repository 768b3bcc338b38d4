import Foundation

/// What a CA knows about one serial number, as OCSP answers it (RFC 6960 §2.2).
///
/// `unknown` is the answer for a serial the CA never issued: a responder never says `good` for it.
public enum RevocationStatus: Sendable, Hashable {
    case good
    case revoked(at: Date, reason: RevocationReason?, invalidityDate: Date?)
    case unknown
}

/// Where a status answer comes from: the registry, through whatever store backs it.
///
/// `issuer` is the authority identifier (`vendor-acme`); `serial` the serial number's content octets.
public protocol CertificateStatusSource: Sendable {
    func status(issuer: String, serial: [UInt8]) async throws -> RevocationStatus
}
