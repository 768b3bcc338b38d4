import Foundation
import SwiftASN1
import X509

/// Fetches what a relying party fetches to learn a certificate's status: the CRL at a cRLDistributionPoint URL
/// (RFC 5280 §4.2.1.13), or an OCSP answer from the responder an authorityInfoAccess names (RFC 6960 §A.1).
///
/// The core decides which URLs to ask and verifies every byte it gets back; an implementation only moves bytes
/// (the CLI's uses HTTP). A failure to reach a URL is thrown, with a message that names it.
public protocol StatusFetcher: Sendable {
    func get(_ url: String) async throws -> [UInt8]
    func post(_ url: String, body: [UInt8], contentType: String) async throws -> [UInt8]
}

/// Where the revocation status of certificates comes from, for a relying party such as a manifest import.
public enum StatusEvidence: Sendable {
    /// A registry that recorded the certificates (the ecosystem's own).
    case registry(any RevocationStore)
    /// CRLs (DER) given by the operator, as `fleetkey crl publish` writes them or as served at the certificates'
    /// distribution points.
    case crls([[UInt8]])
    /// Fetched from the certificates' own CRL distribution points, else their OCSP responders.
    case fetched(any StatusFetcher)
}

/// Decides whether certificates are revoked, from evidence it verifies itself: a CRL counts only if it is signed
/// by the certificate's issuer, current, and covers the certificate (a complete CRL, or the partition its
/// distribution point names); an OCSP answer only if ``OCSPResponseVerifier`` accepts it. No evidence is
/// "unknown", never "good".
public struct RevocationChecker: Sendable {
    public let evidence: StatusEvidence
    public let now: Date

    public init(evidence: StatusEvidence, now: Date) {
        self.evidence = evidence
        self.now = now
    }

    public enum Verdict: Sendable, Hashable {
        case good
        /// Revoked: how the evidence says so.
        case revoked(String)
        /// No evidence either way: what was tried.
        case unknown(String)
    }

    /// The status of each of `certificates`, all issued by `issuer` (known in a registry as `issuerID`).
    public func check(_ certificates: [Certificate], issuedBy issuer: Certificate, issuerID: String) async
        -> [Verdict]
    {
        switch evidence {
        case .registry(let store):
            return await fromRegistry(store, certificates, issuerID: issuerID)
        case .crls(let ders):
            let crls = ders.compactMap { verifiedCRL($0, issuer: issuer) }
            return certificates.map { certificate in
                verdict(certificate, crls: crls)
                    ?? .unknown(
                        "no current CRL of '\(issuer.subject)' covering it was given (--crl); `fleetkey crl publish` "
                            + "writes them")
            }
        case .fetched(let fetcher):
            return await fetched(fetcher, certificates, issuer: issuer)
        }
    }

    // MARK: Registry

    private func fromRegistry(_ store: any RevocationStore, _ certificates: [Certificate], issuerID: String) async
        -> [Verdict]
    {
        var refs: [String: CertificateRef] = [:]
        do {
            if certificates.count > 16 {
                for ref in try await store.certificateRefs(.issuer(issuerID)) { refs[ref.serial] = ref }
            } else {
                for certificate in certificates {
                    let serial = certificate.serialNumber.hexString
                    refs[serial] = try await store.certificateRefs(.certificate(issuer: issuerID, serial: serial)).first
                }
            }
        } catch {
            return certificates.map { _ in .unknown("the registry could not be read: \(error)") }
        }
        return certificates.map { certificate in
            guard let ref = refs[certificate.serialNumber.hexString] else {
                return .unknown(
                    "the registry has no record of it, so its status is unknown: give its issuer's CRL with --crl")
            }
            guard ref.status == .valid else {
                return .revoked("revoked in the registry" + (ref.revocation.map { " (\($0.reason.name))" } ?? ""))
            }
            return .good
        }
    }

    // MARK: CRLs

    /// A CRL that counts as evidence about `issuer`'s certificates: signed by it, current, with its scope read.
    struct VerifiedCRL {
        /// No issuingDistributionPoint: it covers every certificate of its issuer (RFC 5280 §5.2.5).
        var complete: Bool
        /// The partition URL its issuingDistributionPoint names.
        var url: String?
        var number: Int64
        var revoked: Set<[UInt8]>
    }

    private func verifiedCRL(_ der: [UInt8], issuer: Certificate) -> VerifiedCRL? {
        guard let crl = try? CertificateList(derEncoded: der), crl.tbsCertList.issuer == issuer.subject,
            crl.isSignatureValid(issuer: issuer), crl.tbsCertList.thisUpdate <= now.addingTimeInterval(300),
            crl.tbsCertList.nextUpdate >= now
        else { return nil }
        var idpURL: String?
        if let ext = crl.tbsCertList.extensions.first(where: { $0.oid == IssuingDistributionPoint.oid }) {
            guard let point = try? IssuingDistributionPoint(derEncoded: Array(ext.value)),
                case .fullName(let names)? = point.distributionPoint,
                let named = names.compactMap({ name -> String? in
                    if case .uniformResourceIdentifier(let uri) = name { return uri }
                    return nil
                }).first
            else { return nil }
            idpURL = named
        }
        return VerifiedCRL(
            complete: idpURL == nil, url: idpURL, number: crl.tbsCertList.crlNumber ?? 0,
            revoked: Set(crl.tbsCertList.revokedCertificates.map(\.serial)))
    }

    /// The certificate's status from the CRLs that cover it, or `nil` when none does.
    private func verdict(_ certificate: Certificate, crls: [VerifiedCRL]) -> Verdict? {
        let points = Self.distributionPoints(certificate)
        let serial = Array(certificate.serialNumber.bytes)
        var covered = false
        for crl in crls {
            // A complete CRL covers every certificate of its issuer; a partition only those naming its URL.
            guard crl.complete || crl.url.map(points.contains) == true else { continue }
            covered = true
            if crl.revoked.contains(serial) { return .revoked("listed in CRL \(crl.number)") }
        }
        return covered ? .good : nil
    }

    static func distributionPoints(_ certificate: Certificate) -> [String] {
        (try? certificate.extensions[oid: FleetkeyOID.crlDistributionPoints].map { try CRLDistributionPoints($0) })?
            .map { $0.points.flatMap(\.uris) } ?? []
    }

    // MARK: Fetched

    private func fetched(
        _ fetcher: any StatusFetcher, _ certificates: [Certificate], issuer: Certificate
    ) async -> [Verdict] {
        var crls: [String: Result<VerifiedCRL, FetchFailure>] = [:]
        var verdicts: [Verdict] = []
        for certificate in certificates {
            var tried: [String] = []
            var found: Verdict?
            for url in Self.distributionPoints(certificate) where found == nil {
                if crls[url] == nil {
                    do {
                        let der = try await fetcher.get(url)
                        crls[url] =
                            verifiedCRL(der, issuer: issuer)
                            .map(Result.success)
                            ?? .failure(FetchFailure(reason: "not a current CRL signed by '\(issuer.subject)'"))
                    } catch {
                        crls[url] = .failure(FetchFailure(reason: "\(error)"))
                    }
                }
                switch crls[url]! {
                case .success(let crl): found = verdict(certificate, crls: [crl])
                case .failure(let failure): tried.append("\(url) (\(failure.reason))")
                }
            }
            if found == nil {
                found = await ocsp(fetcher, certificate, issuer: issuer, tried: &tried)
            }
            verdicts.append(
                found
                    ?? .unknown(
                        "its status could not be fetched ("
                            + (tried.isEmpty
                                ? "it names no CRL distribution point or OCSP responder"
                                : "tried " + tried.joined(separator: "; "))
                            + "): give its issuer's CRL with --crl (fleetkey crl publish writes it)"))
        }
        return verdicts
    }

    private func ocsp(
        _ fetcher: any StatusFetcher, _ certificate: Certificate, issuer: Certificate, tried: inout [String]
    )
        async -> Verdict?
    {
        let responders =
            (try? certificate.extensions.authorityInformationAccess)?.compactMap { access -> String? in
                guard access.method == .ocspServer, case .uniformResourceIdentifier(let url) = access.location else {
                    return nil
                }
                return url
            } ?? []
        for url in responders {
            do {
                let request = try OCSPRequestBuilder.requestDER(issuer: issuer, serial: certificate.serialNumber)
                let answer = try await fetcher.post(url, body: request, contentType: "application/ocsp-request")
                let verified = try OCSPResponseVerifier(issuer: issuer).verify(answer, at: now)
                switch verified.status(of: certificate.serialNumber) {
                case .good?: return .good
                case .revoked(let info)?: return .revoked("OCSP at \(url) says revoked since \(info.revocationDate)")
                case .unknown?, nil: tried.append("\(url) (OCSP: unknown)")
                }
            } catch {
                tried.append("\(url) (OCSP: \(error))")
            }
        }
        return nil
    }

    struct FetchFailure: Error {
        var reason: String
    }
}
