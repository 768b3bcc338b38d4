import Foundation
import SwiftASN1
import X509

/// Checks an OCSP response as a relying party must before trusting it, RFC 6960 §3.2: for tests, the benchmark,
/// and Fleetkey clients.
///
/// 1. it is a successful id-pkix-ocsp-basic response;
/// 2. its signer is the CA itself, or a delegated responder certified directly by the CA with id-kp-OCSPSigning
///    (§4.2.2.2), valid now, named by the ResponderID;
/// 3. the signature over tbsResponseData verifies with the signer's key;
/// 4. every SingleResponse's CertID names this CA;
/// 5. thisUpdate is not in the future (beyond `skew`) and nextUpdate, when present, not in the past;
/// 6. when the request had a nonce, the response echoes it (RFC 9654 §2.1).
public struct OCSPResponseVerifier: Sendable {
    public let issuer: Certificate
    /// Clock difference tolerated between responder and relying party, in seconds (openssl's default is 300).
    public var skew: TimeInterval

    public init(issuer: Certificate, skew: TimeInterval = 300) {
        self.issuer = issuer
        self.skew = skew
    }

    /// What a verified response says.
    public struct Verified: Sendable {
        public let responseData: OCSPResponseData
        public let signer: Certificate
        public var responses: [OCSPSingleResponse] { responseData.responses }

        /// The status given for `serial`, if the response answers for it.
        public func status(of serial: Certificate.SerialNumber) -> OCSPCertStatus? {
            responses.first { $0.certID.serialNumber == serial }?.certStatus
        }
    }

    public func verify(_ der: [UInt8], at now: Date, nonce: OCSPNonce? = nil) throws -> Verified {
        let basic: OCSPBasicResponse
        do {
            let response = try OCSPResponse(derEncoded: der)
            guard let bytes = response.responseBytes else {
                throw Self.rejected("the responder answered \(response.responseStatus), not successful")
            }
            basic = try bytes.basicResponse()
        } catch let error as FleetkeyError {
            throw error
        } catch {
            throw FleetkeyError(
                .malformedInput, "the OCSP response is not a DER OCSPResponse (RFC 6960 §4.2.1): \(error)")
        }
        let data = basic.responseData
        let signer = try self.signer(of: basic, at: now)
        guard basic.isSignature(madeBy: signer.publicKey) else {
            throw Self.rejected("the response signature does not verify with the key of \(signer.subject)")
        }
        let hashes = try OCSPIssuerHashes(issuer)
        for single in data.responses {
            guard hashes.matches(single.certID) else {
                throw Self.rejected("a SingleResponse is about a certificate of another CA than \(issuer.subject)")
            }
            guard single.thisUpdateDate <= now.addingTimeInterval(skew) else {
                throw Self.rejected("thisUpdate \(single.thisUpdateDate) is in the future")
            }
            if let nextUpdate = single.nextUpdateDate, nextUpdate < now.addingTimeInterval(-skew) {
                throw Self.rejected("nextUpdate \(nextUpdate) has passed: the response is stale")
            }
        }
        if let nonce {
            let echoed = try data.responseExtensions?[oid: FleetkeyOID.ocspNonce].map { try OCSPNonce($0) }
            guard echoed == nonce else { throw Self.rejected("the response does not echo the request's nonce") }
        }
        return Verified(responseData: data, signer: signer)
    }

    /// The certificate the ResponderID names, checked as an authorised responder for `issuer`.
    private func signer(of basic: OCSPBasicResponse, at now: Date) throws -> Certificate {
        let candidates = [issuer] + (basic.certificates ?? [])
        let named = try candidates.first { candidate in
            switch basic.responseData.responderID {
            case .byName(let name): return candidate.subject == name
            case .byKey(let hash): return try OCSPResponderID(keyOf: candidate.publicKey) == .byKey(hash)
            }
        }
        guard let signer = named else {
            throw Self.rejected("no certificate in the response matches its ResponderID")
        }
        if signer == issuer { return signer }
        guard signer.issuer == issuer.subject, issuer.publicKey.isValidSignature(signer.signature, for: signer) else {
            throw Self.rejected("the responder certificate \(signer.subject) is not issued by \(issuer.subject)")
        }
        guard try signer.extensions.extendedKeyUsage?.contains(.ocspSigning) == true else {
            throw Self.rejected(
                "the responder certificate \(signer.subject) lacks id-kp-OCSPSigning (RFC 6960 §4.2.2.2)")
        }
        guard signer.notValidBefore <= now.addingTimeInterval(skew), now <= signer.notValidAfter else {
            throw Self.rejected("the responder certificate \(signer.subject) is not valid at \(now)")
        }
        return signer
    }

    private static func rejected(_ reason: String) -> FleetkeyError {
        FleetkeyError(.statusNotVerified, "OCSP response rejected: \(reason)")
    }
}
