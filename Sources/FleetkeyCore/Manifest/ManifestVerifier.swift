import Crypto
import Foundation
import SwiftASN1
@_spi(CMS) import X509

/// Checks a signed manifest against the ecosystem root a buyer trusts, with no help from the vendor.
///
/// It checks the CMS signature (RFC 5652 §5.6), that the signer chains to the trust anchor (RFC 5280 §6, name
/// constraints included), that the signer is a manifest signer of the manifest's vendor, the signer's revocation
/// status, and then every entry on its own (see ``ManifestEntry``) and the entries against each other. It reports
/// every problem; the caller refuses the manifest if there is any.
public struct ManifestVerifier: Sendable {
    public let trustAnchor: Certificate
    public let now: Date

    public init(trustAnchor: Certificate, now: Date) {
        self.trustAnchor = trustAnchor
        self.now = now
    }

    /// One entry that passed every check, decoded.
    public struct VerifiedEntry: Sendable {
        public var index: Int
        public var serial: DeviceSerial
        public var certificate: Certificate
        public var certificateDER: [UInt8]
        public var hardwareModule: HardwareModuleName
        public var attestation: FactoryAttestation
    }

    /// The outcome: the decoded manifest, its signer and vendor CA when they could be read, and what is wrong.
    public struct Outcome: Sendable {
        public var document: ManifestDocument
        public var signer: Certificate?
        public var vendorCA: Certificate?
        public var entries: [VerifiedEntry]
        public var report: ManifestReport
    }

    public func verify(_ bytes: [UInt8], status: StatusEvidence) async throws -> Outcome {
        let content = try ManifestEnvelope.content(of: bytes)
        let document = try ManifestDocument.decode(content)
        var report = ManifestReport(entriesChecked: document.devices.count)
        func problem(_ rule: String, _ detail: String, entry: Int? = nil, serial: String? = nil) {
            report.problems.append(.init(entry: entry, serial: serial, rule: rule, detail: detail))
        }

        let vendor: VendorName
        do {
            vendor = try VendorName(document.vendor)
        } catch {
            problem("malformed", "vendor '\(document.vendor)' is not a vendor name")
            return Outcome(document: document, signer: nil, vendorCA: nil, entries: [], report: report)
        }
        var vendorCA: Certificate?
        if document.chain.count == 1, let der = Data(base64Encoded: document.chain[0]),
            let certificate = try? Certificate(derEncoded: Array(der))
        {
            vendorCA = certificate
        } else {
            problem("chain", "the manifest's chain must be exactly the vendor CA's certificate (base64 DER)")
        }

        // The signature and the signer's chain to the root the buyer trusts.
        var signer: Certificate?
        let now = self.now
        let result = await CMS.isValidAttachedSignature(
            signatureBytes: bytes, additionalIntermediateCertificates: vendorCA.map { [$0] } ?? [],
            trustRoots: CertificateStore([trustAnchor])
        ) {
            EcosystemChainPolicy(validationTime: now)
        }
        switch result {
        case .success(let valid):
            signer = valid.signer
        case .failure(.invalidCMSBlock(let block)):
            problem(
                "signature",
                "the CMS signature does not verify (\(block.reason.prefix(200))): the content was changed after signing, "
                    + "or it was not signed by the certificate it names")
        case .failure(.unableToValidateSigner(let failure)):
            problem(
                "chain",
                "the signer '\(failure.signer.subject)' does not chain to the trusted root '\(trustAnchor.subject)': "
                    + failure.policyFailures.map { "\($0.policyFailureReason)" }.joined(separator: "; ").prefix(400))
        }
        let checker = RevocationChecker(evidence: status, now: now)
        if let signer {
            checkSigner(signer, vendor: vendor, vendorCA: vendorCA, problem: { problem("signer", $0) })
            if let vendorCA {
                // The signer against its vendor CA's CRLs, and the vendor CA against the root's: a vendor the root
                // revoked signs nothing an owner accepts.
                for (certificate, issuer, issuerID) in [
                    (signer, vendorCA, vendor.authorityID), (vendorCA, trustAnchor, TrustAnchor.authorityID),
                ] {
                    switch await checker.check([certificate], issuedBy: issuer, issuerID: issuerID)[0] {
                    case .good: break
                    case .revoked(let how):
                        problem(
                            "signer-status",
                            "'\(certificate.subject)' (serial \(certificate.serialNumber)) is revoked: \(how)")
                    case .unknown(let why):
                        problem("signer-status", "the status of '\(certificate.subject)' is unknown: \(why)")
                    }
                }
            }
        }

        var entries: [VerifiedEntry] = []
        var firstBySerial: [String: Int] = [:]
        var firstByKey: [[UInt8]: (Int, String)] = [:]
        var firstByElement: [String: Int] = [:]
        let checked = await checkEntries(document.devices, vendor: vendor, vendorCA: vendorCA)
        for (index, entry) in document.devices.enumerated() {
            let count = report.problems.count
            let verified = checked[index].entry
            report.problems += checked[index].problems
            if let previous = firstBySerial[entry.serial] {
                let other = document.devices[previous]
                let rule = other.publicKey == entry.publicKey ? "duplicate" : "switched-key"
                problem(
                    rule,
                    rule == "duplicate"
                        ? "serial \(entry.serial) is also entry \(previous)"
                        : "serial \(entry.serial) is also entry \(previous), with another key: a switched key",
                    entry: index, serial: entry.serial)
            } else {
                firstBySerial[entry.serial] = index
            }
            if let key = Data(base64Encoded: entry.publicKey).map(Array.init) {
                if let (previous, serial) = firstByKey[key], serial != entry.serial {
                    problem(
                        "clone", "the same public key as entry \(previous) (serial \(serial)): a cloned key",
                        entry: index, serial: entry.serial)
                } else if firstByKey[key] == nil {
                    firstByKey[key] = (index, entry.serial)
                }
            }
            if let previous = firstByElement[entry.hardwareModule.serial] {
                problem(
                    "duplicate", "secure element '\(entry.hardwareModule.serial)' is also entry \(previous)",
                    entry: index, serial: entry.serial)
            } else {
                firstByElement[entry.hardwareModule.serial] = index
            }
            if let verified, report.problems.count == count { entries.append(verified) }
        }
        // Every device certificate against its vendor CA's CRLs: a manifest with a revoked device is refused.
        if let vendorCA, !entries.isEmpty {
            let verdicts = await checker.check(
                entries.map(\.certificate), issuedBy: vendorCA, issuerID: vendor.authorityID)
            for (entry, verdict) in zip(entries, verdicts) {
                switch verdict {
                case .good:
                    break
                case .revoked(let how):
                    problem(
                        "revoked",
                        "the device certificate (serial \(entry.certificate.serialNumber)) is revoked: \(how)",
                        entry: entry.index, serial: entry.serial.value)
                case .unknown(let why):
                    problem(
                        "device-status", "the status of the device certificate is unknown: \(why)", entry: entry.index,
                        serial: entry.serial.value)
                }
            }
        }
        return Outcome(document: document, signer: signer, vendorCA: vendorCA, entries: entries, report: report)
    }

    /// The signer must be the vendor's manifest signer: documentSigning (RFC 9336), O=vendor, issued by the vendor CA.
    private func checkSigner(
        _ signer: Certificate, vendor: VendorName, vendorCA: Certificate?, problem: (String) -> Void
    ) {
        let purposes = (try? signer.extensions.extendedKeyUsage).map { Array($0) } ?? []
        if !purposes.contains(ExtendedKeyUsage.Usage(oid: FleetkeyOID.documentSigning)) {
            problem(
                "the signer's certificate lacks extendedKeyUsage documentSigning (RFC 9336): it is not a manifest signer"
            )
        }
        let organization = (try? SubjectName(signer.subject, field: "signer"))?.values(.organization).first
        if organization != vendor.value {
            problem("the signer's certificate is for O=\(organization ?? "none"), not the manifest's vendor \(vendor)")
        }
        if let vendorCA, signer.issuer != vendorCA.subject {
            problem("the signer was not issued by the vendor CA in the manifest's chain")
        }
    }

    /// Checks every entry on its own, spread over the machine's cores (each costs two signature verifications);
    /// results come back in entry order.
    private func checkEntries(_ entries: [ManifestEntry], vendor: VendorName, vendorCA: Certificate?) async
        -> [(entry: VerifiedEntry?, problems: [ManifestReport.Problem])]
    {
        let ranges = Self.laneRanges(count: entries.count, processors: ProcessInfo.processInfo.activeProcessorCount)
        let lanes = ranges.count
        return await withTaskGroup(of: (Int, [(VerifiedEntry?, [ManifestReport.Problem])]).self) { group in
            for (lane, range) in ranges.enumerated() {
                group.addTask {
                    (
                        lane,
                        range.map { index in
                            var problems: [ManifestReport.Problem] = []
                            let entry = entries[index]
                            let verified = checkEntry(entry, index: index, vendor: vendor, vendorCA: vendorCA) {
                                rule, detail in
                                problems.append(.init(entry: index, serial: entry.serial, rule: rule, detail: detail))
                            }
                            return (verified, problems)
                        }
                    )
                }
            }
            var byLane: [Int: [(VerifiedEntry?, [ManifestReport.Problem])]] = [:]
            for await (lane, results) in group { byLane[lane] = results }
            return (0..<lanes).flatMap { byLane[$0] ?? [] }.map { (entry: $0.0, problems: $0.1) }
        }
    }

    /// Splits `count` entries into contiguous, non-empty ranges, one per lane: at most one lane per processor and
    /// at least 64 entries a lane (fewer lanes would not pay for their task), in entry order, covering every entry
    /// once. Lane `i` starts at `i * count / lanes`, so no range can start past the end however many processors
    /// there are.
    static func laneRanges(count: Int, processors: Int) -> [Range<Int>] {
        guard count > 0 else { return [] }
        let lanes = max(1, min(processors, count / 64))
        return (0..<lanes).map { lane in (lane * count / lanes)..<((lane + 1) * count / lanes) }
    }

    private func checkEntry(
        _ entry: ManifestEntry, index: Int, vendor: VendorName, vendorCA: Certificate?,
        problem: (String, String) -> Void
    ) -> VerifiedEntry? {
        guard let certificateDER = Data(base64Encoded: entry.certificate).map(Array.init),
            let certificate = try? Certificate(derEncoded: certificateDER)
        else {
            problem("certificate", "'certificate' is not a base64 DER certificate")
            return nil
        }
        var good = true
        if let vendorCA {
            if certificate.issuer != vendorCA.subject
                || !vendorCA.publicKey.isValidSignature(certificate.signature, for: certificate)
            {
                problem("certificate", "the certificate is not signed by the vendor CA '\(vendorCA.subject)'")
                good = false
            }
        }
        if now < certificate.notValidBefore || now > certificate.notValidAfter {
            problem(
                "certificate",
                "the certificate is not valid now (\(certificate.notValidBefore) to \(certificate.notValidAfter))")
            good = false
        }
        let subject = try? SubjectName(certificate.subject, field: "certificate subject")
        if subject?.values(.serialNumber).first != entry.serial {
            problem(
                "certificate",
                "the certificate is for serialNumber=\(subject?.values(.serialNumber).first ?? "none"), not \(entry.serial)"
            )
            good = false
        }
        if subject?.values(.organization).first != vendor.value {
            problem(
                "vendor", "the certificate is for O=\(subject?.values(.organization).first ?? "none"), not \(vendor)")
            good = false
        }
        let hardware = (try? certificate.extensions.subjectAlternativeNames)?.flatMap { $0 }
            .compactMap { try? HardwareModuleName($0) }.first
        if hardware == nil || hardware?.hardwareType.description != entry.hardwareModule.type
            || hardware?.serialText != entry.hardwareModule.serial
        {
            problem(
                "certificate",
                "the certificate's hardwareModuleName (\(hardware?.serialText ?? "none")) differs from the entry's "
                    + "(\(entry.hardwareModule.serial))")
            good = false
        }
        guard let key = Data(base64Encoded: entry.publicKey).map(Array.init),
            key == certificate.publicKey.subjectPublicKeyInfoDER
        else {
            problem("key", "the certificate certifies another key than the entry's publicKey")
            return nil
        }
        guard let statement = Data(base64Encoded: entry.attestation).map(Array.init),
            let attestationKeyDER = Data(base64Encoded: entry.attestationKey).map(Array.init),
            let attestationKey = try? Certificate.PublicKey(derEncoded: attestationKeyDER)
        else {
            problem("attestation", "'attestation' or 'attestationKey' is not base64 DER")
            return nil
        }
        do {
            let attestation = try KeyAttestation(derEncoded: statement)
            _ = try KeyAttestationVerifier(trusting: attestationKey).verify(
                attestation,
                .init(
                    nonce: Array(SHA256.hash(data: certificateDER)), elementID: entry.hardwareModule.serial,
                    publicKey: certificate.publicKey, requireLocked: true))
        } catch let error as FleetkeyError {
            problem("attestation", error.reason)
            return nil
        } catch {
            problem("attestation", "\(error)")
            return nil
        }
        guard good, let hardware, let serial = try? DeviceSerial(entry.serial) else {
            if good { problem("malformed", "'\(entry.serial)' is not a device serial") }
            return nil
        }
        return VerifiedEntry(
            index: index, serial: serial, certificate: certificate, certificateDER: certificateDER,
            hardwareModule: hardware,
            attestation: FactoryAttestation(statement: statement, attestationKey: attestationKeyDER))
    }
}
