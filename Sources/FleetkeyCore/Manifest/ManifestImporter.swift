import Crypto
import Foundation
import X509

/// Imports a verified manifest into a registry for one owner: all of it in one transaction, or nothing.
///
/// On top of ``ManifestVerifier``'s checks it compares the manifest with what the registry already knows: a key
/// already held by a device of another identity is a clone, an identity already known with another key is a
/// switched key, and a device shipped to someone else, or already in service, is not taken over. The devices arrive
/// `shipped` and owned by the owner; in an ecosystem's own registry, where they are `provisioned`, they move to
/// `shipped`. Importing a manifest that was imported before (same SHA-256) changes nothing.
public struct ManifestImporter: Sendable {
    public let store: any RegistryStore & SupplyChainStore
    public let verifier: ManifestVerifier
    public let actor: String

    public init(store: any RegistryStore & SupplyChainStore, verifier: ManifestVerifier, actor: String) {
        self.store = store
        self.verifier = verifier
        self.actor = actor
    }

    public enum Outcome: Sendable {
        /// Every device was recorded, in one transaction.
        case imported(ImportedManifest)
        /// This exact manifest was imported before; nothing changed.
        case alreadyImported(ImportedManifest)
        /// Something was wrong; nothing was imported.
        case rejected(ManifestReport)
    }

    public func importManifest(
        _ bytes: [UInt8], owner: String, status: StatusEvidence
    ) async throws -> Outcome {
        guard try await store.owner(named: owner) != nil else {
            let known = try await store.owners().map(\.name)
            throw FleetkeyError(
                .notFound,
                "no owner '\(owner)' in this registry"
                    + (known.isEmpty
                        ? "; add one with `fleetkey owner add NAME`"
                        : "; owners here: \(known.joined(separator: ", "))"))
        }
        let digest = Hex.lower(SHA256.hash(data: bytes))
        if let earlier = try await store.importedManifest(digest: digest) {
            return .alreadyImported(earlier)
        }
        let outcome = try await verifier.verify(bytes, status: status)
        var report = outcome.report
        // The registry's checks run even when the manifest already has problems, so the report names them all.
        guard let vendorCA = outcome.vendorCA, !outcome.entries.isEmpty || report.isClean else {
            return .rejected(report)
        }
        let vendor = try VendorName(outcome.document.vendor)
        let lot = outcome.document.lot
        let now = verifier.now

        // What the registry already knows about these keys and identities.
        let fingerprints = outcome.entries.map {
            KeyRecord.fingerprint(ofSubjectPublicKeyInfo: $0.certificate.publicKey.subjectPublicKeyInfoDER)
        }
        let byKey = Dictionary(grouping: try await store.devices(withKeys: fingerprints), by: \.keyFingerprint)
        let ids = outcome.entries.map { DeviceID(vendor: vendor, serial: $0.serial) }
        let known = Dictionary(uniqueKeysWithValues: try await store.devices(ids: ids).map { ($0.id, $0) })

        var changes: [DeviceChange] = []
        var keys: [KeyRecord] = []
        var certificates: [CertificateRecord] = []
        var events: [LifecycleEvent] = []
        for (entry, (fingerprint, id)) in zip(outcome.entries, zip(fingerprints, ids)) {
            func problem(_ rule: String, _ detail: String) {
                report.problems.append(
                    .init(entry: entry.index, serial: entry.serial.value, rule: rule, detail: detail))
            }
            if let other = byKey[fingerprint]?.first(where: { $0.id != id }) {
                problem("clone", "its public key is already held by device \(other.id) in this registry: a cloned key")
                continue
            }
            let existing = known[id]
            if let existing, existing.keyFingerprint != fingerprint {
                problem(
                    "switched-key",
                    "device \(id) is already in this registry with another key (\(existing.keyFingerprint.prefix(16))…): "
                        + "a switched key")
                continue
            }
            var device = DeviceRecord(
                id: id, state: .shipped, lot: lot, keyFingerprint: fingerprint, hardwareModule: entry.hardwareModule,
                attestation: entry.attestation, owner: owner, createdAt: now, updatedAt: now)
            if let existing {
                if existing.state == .shipped && existing.owner == owner { continue }
                guard existing.state == .provisioned, existing.owner == nil else {
                    problem(
                        "state",
                        "device \(id) is already \(existing.state.rawValue)"
                            + (existing.owner.map { " and owned by '\($0)'" } ?? "") + "; it cannot be shipped again")
                    continue
                }
                device.state = try DeviceLifecycle().next(from: existing.state, on: .ship)
                device.createdAt = existing.createdAt
                device.lot = existing.lot ?? lot
            }
            changes.append(DeviceChange(device: device, expectedState: existing?.state))
            keys.append(
                KeyRecord(
                    fingerprint: fingerprint, subjectPublicKeyInfo: entry.certificate.publicKey.subjectPublicKeyInfoDER,
                    algorithm: try KeySpec(entry.certificate.publicKey), custody: .secureElement,
                    location: entry.hardwareModule.serialText, createdAt: now))
            certificates.append(
                CertificateRecord(
                    issuer: vendor.authorityID, serial: entry.certificate.serialNumber.hexString,
                    profile: CertificateProfile.Name.deviceIdentity, subject: entry.certificate.subject.description,
                    notBefore: entry.certificate.notValidBefore, notAfter: entry.certificate.notValidAfter,
                    keyFingerprint: fingerprint, device: id, der: entry.certificateDER, status: .valid, issuedAt: now,
                    crlScope: try CRLScope(distributionPointOf: entry.certificate, issuer: vendor.authorityID)))
            events.append(
                LifecycleEvent(
                    at: now, actor: actor, action: .deviceShipped, subject: .device(id),
                    fromState: existing?.state.rawValue, toState: DeviceState.shipped.rawValue,
                    detail: ["owner": owner, "manifest": digest]))
        }
        guard report.isClean else { return .rejected(report) }

        let manifest = ImportedManifest(
            digest: digest, vendor: vendor, lot: lot, owner: owner, deviceCount: outcome.entries.count, importedAt: now)
        events.append(
            LifecycleEvent(
                at: now, actor: actor, action: .manifestImported, subject: .manifest(digest: digest),
                detail: [
                    "vendor": vendor.value, "lot": lot, "owner": owner, "devices": "\(outcome.entries.count)",
                    "signer": outcome.signer.map { $0.serialNumber.hexString } ?? "",
                ]))
        let root = verifier.trustAnchor
        let unit = ManifestImportUnit(
            manifest: manifest,
            authorities: [
                try TrustAnchor.records(root, at: now).authority,
                AuthorityRecord(
                    id: vendor.authorityID, kind: .vendor, vendor: vendor, certificateDER: try vendorCA.derBytes(),
                    keyReference: "none:held-by-vendor", algorithm: try KeySpec(vendorCA.publicKey), createdAt: now),
            ],
            vendor: VendorRecord(name: vendor, authorityID: vendor.authorityID, state: .active, createdAt: now),
            keys: keys, certificates: certificates, devices: changes, events: events)
        guard try await store.importManifest(unit) else {
            return .alreadyImported(try await store.importedManifest(digest: digest) ?? manifest)
        }
        return .imported(manifest)
    }
}
