import Crypto
import Foundation
import SwiftASN1

/// A digest a CertID may be computed with (RFC 6960 §4.1.1): SHA-1, as RFC 5019 §2.1.1 profiles it for
/// high-volume clients, and the SHA-2 family (RFC 5754) that newer clients use.
///
/// The responder precomputes each served issuer's name and key hash under every one of these, so matching a
/// request costs one dictionary lookup whatever digest the client chose.
public enum OCSPHashAlgorithm: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case sha1, sha256, sha384, sha512

    public var oid: ASN1ObjectIdentifier {
        switch self {
        case .sha1: FleetkeyOID.sha1
        case .sha256: FleetkeyOID.sha256
        case .sha384: FleetkeyOID.sha384
        case .sha512: FleetkeyOID.sha512
        }
    }

    /// The algorithm an OID names, or `nil` for a digest Fleetkey does not compute.
    public init?(oid: ASN1ObjectIdentifier) {
        guard let match = Self.allCases.first(where: { $0.oid == oid }) else { return nil }
        self = match
    }

    /// The length of a digest in octets: what issuerNameHash and issuerKeyHash must measure.
    public var digestLength: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    public func hash(_ bytes: some DataProtocol) -> [UInt8] {
        switch self {
        case .sha1: Array(Insecure.SHA1.hash(data: bytes))
        case .sha256: Array(SHA256.hash(data: bytes))
        case .sha384: Array(SHA384.hash(data: bytes))
        case .sha512: Array(SHA512.hash(data: bytes))
        }
    }

    public var description: String { rawValue.uppercased() }
}
