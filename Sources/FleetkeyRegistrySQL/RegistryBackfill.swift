import FleetkeyCore
import SwiftASN1
import X509

/// What a migration derives from stored DER for both stores, when a new column records what older rows only held
/// inside their certificates and CRLs.
package enum RegistryBackfill {
    /// The stored CRL scope of a certificate, from its cRLDistributionPoint; `nil` when it names no CRL.
    package static func crlScope(certificateDER: [UInt8], issuer: String) throws -> Int? {
        do {
            return try CRLScope(distributionPointOf: try Certificate(derEncoded: certificateDER), issuer: issuer)?
                .storedValue
        } catch {
            throw FleetkeyError(
                .storage, "a certificate of \(issuer) in the registry does not parse, so its CRL is unknown: \(error)")
        }
    }

    /// The stored scope of a published CRL, from its issuingDistributionPoint.
    package static func crlScope(crlDER: [UInt8], issuer: String) throws -> Int {
        do {
            return try CRLScope(issuingDistributionPointOf: try CertificateList(derEncoded: crlDER), issuer: issuer)
                .storedValue
        } catch {
            throw FleetkeyError(.storage, "a published CRL of \(issuer) in the registry does not parse: \(error)")
        }
    }
}
