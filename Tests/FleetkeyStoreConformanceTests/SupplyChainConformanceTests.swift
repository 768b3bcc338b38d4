import Crypto
import FleetkeyCore
import FleetkeyCustody
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

/// The factory line and supply-chain manifests on every real store: provisioning that resumes without second keys,
/// manifests that import whole and once, and every kind of bad manifest refused with nothing written.
@Suite("Supply chain conformance")
struct SupplyChainConformanceTests {
    static func supplyChain(_ store: any RegistryStore) throws -> any RegistryStore & SupplyChainStore & RevocationStore
    {
        try #require(store as? any RegistryStore & SupplyChainStore & RevocationStore)
    }

    /// An ecosystem with vendor Acme on `subject`'s store, its factory line for `lot`, and the manifest signer.
    struct Factory {
        let world: ThrowawayEcosystem
        let store: any RegistryStore & SupplyChainStore & RevocationStore
        let line: FactoryLine
        let elements: EmulatedElementSource
        let authority: CertificateAuthority
        let signer: (certificate: Certificate, key: Certificate.PrivateKey)

        init(on subject: StoreUnderTest, lot: String = "L1") async throws {
            store = try SupplyChainConformanceTests.supplyChain(subject.store)
            world = try await ThrowawayEcosystem.make(store: store, now: Date())
            elements = EmulatedElementSource(directory: subject.directory.url.appendingPathComponent("elements"))
            let acme = try VendorName("Acme")
            line = try FactoryLine(
                ecosystem: world.ecosystem, supplyChain: store, elements: elements, vendor: acme, lot: lot)
            authority = try await world.ecosystem.vendorAuthority(acme)
            signer = try await world.ecosystem.delegatedSigner(
                vendor: acme, profile: CertificateProfile.Name.manifestSigner, index: store)
        }

        func provision(_ count: Int) async throws {
            for index in 1...count { #expect(try await line.provision(index, by: authority) == .provisioned) }
        }

        func export() async throws -> ManifestExporter.Export {
            try await ManifestExporter(ecosystem: world.ecosystem, supplyChain: store).export(
                vendor: try VendorName("Acme"), lot: line.lot, buyer: "Globex-Ops", signer: signer)
        }

        /// Re-signs a changed document with the real manifest signer: a vendor pipeline gone wrong, not an outsider.
        func resign(_ document: ManifestDocument) throws -> [UInt8] {
            try ManifestExporter.sign(document, signer: signer, vendorCA: authority.certificate, at: world.clock.now())
        }

        /// A certificate the vendor CA signs for `serial` and `key` without recording it: a rogue factory run.
        func rogueCertificate(serial: String, key: Certificate.PublicKey, element: String) throws -> Certificate {
            let hardware = HardwareModuleName(
                hardwareType: try ASN1ObjectIdentifier(dotRepresentation: world.ecosystem.policy.hardwareModuleType),
                serialNumber: Array(element.utf8))
            let draft = try DraftBuilder(policy: world.ecosystem.policy).draft(
                .init(
                    profileName: CertificateProfile.Name.deviceIdentity,
                    subject: try SubjectName([(.organization, "Acme"), (.serialNumber, serial)]), publicKey: key,
                    hardwareModule: hardware),
                issuer: authority.info, issuerKey: authority.keySpec,
                serial: SerialNumberGenerator(random: SystemRandomSource()).next(), now: world.clock.now())
            return try authority.issue(draft, now: world.clock.now())
        }
    }

    /// An owner-side registry of the same kind, trusting `root`, with owner Globex-Ops.
    static func ownerRegistry(_ kind: StoreKind, root: Certificate) async throws -> (
        StoreUnderTest, any RegistryStore & SupplyChainStore
    ) {
        let owner = try await StoreUnderTest.make(kind)
        let store = try supplyChain(owner.store)
        let anchor = try TrustAnchor.records(root, at: Date())
        try await store.createRoot(anchor.authority, certificate: anchor.certificate, key: anchor.key, events: [])
        try await store.addOwner(OwnerRecord(name: "Globex-Ops", createdAt: Date()), events: [])
        return (owner, store)
    }

    static func importer(_ store: any RegistryStore & SupplyChainStore, root: Certificate) -> ManifestImporter {
        ManifestImporter(store: store, verifier: ManifestVerifier(trustAnchor: root, now: Date()), actor: "test")
    }

    @Test(
        "the factory line provisions, records attestations, and a rerun finishes or skips without second keys",
        arguments: StoreKind.allCases)
    func provisioning(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let factory = try await Factory(on: subject)
            try await factory.provision(3)
            let devices = try await factory.store.devices(matching: DeviceFilter(lot: "L1"))
            #expect(devices.count == 3 && devices.allSatisfy { $0.state == .provisioned && $0.attestation != nil })
            for device in devices {
                let element = try #require(
                    try factory.elements.existingElement(factory.line.elementID(for: device.id.serial)))
                let slot = try element.status(ofSlot: 0)
                #expect(slot.locked && slot.hasCertificate)
                #expect(device.hardwareModule?.serialText == element.elementID)
            }
            // A run interrupted after the element made its key, before anything was recorded: the rerun uses that key.
            let fourth = try factory.elements.newElement(factory.line.elementID(for: try factory.line.serial(4)))
            let madeBefore = try fourth.generateKey(inSlot: 0)
            // One interrupted after the certificate was recorded, before it was written and the slot locked.
            let fifthSerial = try factory.line.serial(5)
            let fifth = try factory.elements.newElement(factory.line.elementID(for: fifthSerial))
            _ = try fifth.generateKey(inSlot: 0)
            let hardware = HardwareModuleName(
                hardwareType: factory.line.hardwareType, serialNumber: Array(fifth.elementID.utf8))
            let request = try RequestBuilder.deviceRequest(
                vendor: factory.line.vendor, serial: fifthSerial, hardwareModule: hardware,
                key: try fifth.signingKey(inSlot: 0))
            _ = try await factory.world.ecosystem.issueDeviceIdentity(
                .init(
                    csr: try request.derBytes(), hardwareModule: hardware, lot: "L1", keyCustody: .secureElement,
                    keyLocation: fifth.elementID, provisions: false),
                by: factory.authority)
            #expect(
                try await factory.store.device(DeviceID(vendor: factory.line.vendor, serial: fifthSerial))?.state
                    == .generated)

            var outcomes: [FactoryLine.Outcome] = []
            for index in 1...5 { outcomes.append(try await factory.line.provision(index, by: factory.authority)) }
            #expect(
                outcomes == [.alreadyProvisioned, .alreadyProvisioned, .alreadyProvisioned, .provisioned, .finished])
            let all = try await factory.store.devices(matching: DeviceFilter(lot: "L1"))
            #expect(all.count == 5 && all.allSatisfy { $0.state == .provisioned && $0.attestation != nil })
            #expect(try fourth.publicKey(inSlot: 0) == madeBefore)
            // One certificate per device, and every event of the lot in order.
            for device in all {
                #expect(try await factory.store.certificates(forDevice: device.id).count == 1)
            }
            let summary = try #require(try await factory.store.lotSummaries(lot: "L1").first)
            #expect(summary.devicesByState == [.provisioned: 5] && summary.vendor.value == "Acme")
        }
    }

    @Test(
        "a manifest imports whole into an owner's registry as shipped, once; and ships devices in the ecosystem's own",
        arguments: StoreKind.allCases)
    func importing(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let factory = try await Factory(on: subject)
            try await factory.provision(4)
            let exported = try await factory.export()
            #expect(exported.document.devices.count == 4 && exported.skipped.isEmpty)

            let (ownerSubject, owner) = try await Self.ownerRegistry(kind, root: factory.world.root)
            let importer = Self.importer(owner, root: factory.world.root)
            guard
                case .imported(let manifest) = try await importer.importManifest(
                    exported.bytes, owner: "Globex-Ops", status: .registry(factory.store))
            else {
                Issue.record("the manifest was not imported")
                return
            }
            #expect(manifest.deviceCount == 4 && manifest.lot == "L1")
            let shipped = try await owner.devices(matching: DeviceFilter(lot: "L1"))
            #expect(shipped.count == 4 && shipped.allSatisfy { $0.state == .shipped && $0.owner == "Globex-Ops" })
            #expect(try await owner.certificateCount(issuer: "vendor-acme") == 4)
            let events = try await owner.events(subject: nil, limit: nil).count
            guard
                case .alreadyImported = try await importer.importManifest(
                    exported.bytes, owner: "Globex-Ops", status: .registry(factory.store))
            else {
                Issue.record("a second import was not recognised")
                return
            }
            #expect(try await owner.events(subject: nil, limit: nil).count == events)
            await ownerSubject.close()

            // The ecosystem's own registry: the same devices move from provisioned to shipped.
            try await factory.store.addOwner(OwnerRecord(name: "Globex-Ops", createdAt: Date()), events: [])
            guard
                case .imported = try await Self.importer(factory.store, root: factory.world.root).importManifest(
                    exported.bytes, owner: "Globex-Ops", status: .registry(factory.store))
            else {
                Issue.record("the manifest was not imported into the ecosystem's registry")
                return
            }
            let moved = try await factory.store.devices(matching: DeviceFilter(lot: "L1"))
            #expect(moved.allSatisfy { $0.state == .shipped && $0.owner == "Globex-Ops" })
        }
    }

    @Test(
        "tampering, clones, switched keys, foreign and revoked signers refuse the whole manifest and write nothing",
        arguments: StoreKind.allCases)
    func refusals(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let factory = try await Factory(on: subject)
            try await factory.provision(4)
            let exported = try await factory.export()
            let (ownerSubject, owner) = try await Self.ownerRegistry(kind, root: factory.world.root)
            let importer = Self.importer(owner, root: factory.world.root)
            func refused(_ bytes: [UInt8], status: StatusEvidence? = nil) async throws
                -> ManifestReport
            {
                let eventsBefore = try await owner.events(subject: nil, limit: nil).count
                let devicesBefore = try await owner.devices(matching: DeviceFilter())
                let outcome = try await importer.importManifest(
                    bytes, owner: "Globex-Ops", status: status ?? .registry(factory.store))
                #expect(try await owner.devices(matching: DeviceFilter()) == devicesBefore)
                #expect(try await owner.events(subject: nil, limit: nil).count == eventsBefore)
                guard case .rejected(let report) = outcome else {
                    Issue.record("the manifest was accepted")
                    return ManifestReport()
                }
                return report
            }

            // One byte of entry 2's certificate changed, after signing.
            var bytes = exported.bytes
            let entry = exported.document.devices[2].certificate
            let at = try #require(Self.find(Array(entry.utf8), in: bytes)) + 120
            bytes[at] = bytes[at] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let tampered = try await refused(bytes)
            #expect(tampered.problems.contains { $0.rule == "signature" && $0.entry == nil })
            #expect(Set(tampered.problems.compactMap(\.entry)) == [2], "\(tampered.problems.map(\.line))")

            // The same public key under two serials: a clone (signed by the real signer, so only the content tells).
            var document = exported.document
            let victim = document.devices[1]
            let victimCertificate = try Certificate(derEncoded: Array(Data(base64Encoded: victim.certificate)!))
            let cloneSerial = "L1-000099"
            let clone = try factory.rogueCertificate(
                serial: cloneSerial, key: victimCertificate.publicKey, element: "vendor-acme.L1-000099")
            document.devices.append(
                ManifestEntry(
                    serial: cloneSerial,
                    hardwareModule: .init(type: victim.hardwareModule.type, serial: "vendor-acme.L1-000099"),
                    publicKey: victim.publicKey, certificate: Data(try clone.derBytes()).base64EncodedString(),
                    attestation: victim.attestation, attestationKey: victim.attestationKey))
            let cloned = try await refused(try factory.resign(document))
            #expect(
                cloned.problems.contains { $0.rule == "clone" && $0.serial == cloneSerial },
                "\(cloned.problems.map(\.line))")

            // Device L1-000001 with another key, from another element that attests it properly: a switched key,
            // inside one manifest ...
            document = exported.document
            let impostor = try factory.elements.newElement("impostor-1")
            let impostorKey = try impostor.generateKey(inSlot: 0)
            let switched = try factory.rogueCertificate(
                serial: "L1-000001", key: impostorKey, element: impostor.elementID)
            try impostor.writeCertificate(switched, toSlot: 0)
            try impostor.lock(slot: 0)
            let impostorAttestation = try impostor.attest(
                slot: 0, nonce: Array(SHA256.hash(data: try switched.derBytes())))
            let entryWithOtherKey = ManifestEntry(
                serial: "L1-000001",
                hardwareModule: .init(type: document.devices[0].hardwareModule.type, serial: impostor.elementID),
                publicKey: Data(impostorKey.subjectPublicKeyInfoDER).base64EncodedString(),
                certificate: Data(try switched.derBytes()).base64EncodedString(),
                attestation: Data(try impostorAttestation.derBytes()).base64EncodedString(),
                attestationKey: Data(try impostor.attestationPublicKey().subjectPublicKeyInfoDER).base64EncodedString())
            document.devices.append(entryWithOtherKey)
            let inside = try await refused(try factory.resign(document))
            #expect(inside.problems.contains { $0.rule == "switched-key" && $0.serial == "L1-000001" })

            // ... and against the registry, once the genuine lot is in.
            guard
                case .imported = try await importer.importManifest(
                    exported.bytes, owner: "Globex-Ops", status: .registry(factory.store))
            else {
                Issue.record("the genuine manifest was not imported")
                return
            }
            document = exported.document
            document.lot = "L1-again"
            document.devices = [entryWithOtherKey]
            let before = try await owner.devices(matching: DeviceFilter())
            let outcome = try await importer.importManifest(
                try factory.resign(document), owner: "Globex-Ops", status: .registry(factory.store))
            guard case .rejected(let report) = outcome else {
                Issue.record("a switched key was accepted")
                return
            }
            #expect(report.problems.contains { $0.rule == "switched-key" && $0.serial == "L1-000001" })
            #expect(try await owner.devices(matching: DeviceFilter()) == before)

            // A manifest signed in another ecosystem, whatever it says, does not chain to this root.
            let elsewhere = try await StoreUnderTest.make(kind)
            let foreign = try await Factory(on: elsewhere)
            try await foreign.provision(1)
            let foreignManifest = try await foreign.export()
            let outcomeForeign = try await importer.importManifest(
                foreignManifest.bytes, owner: "Globex-Ops", status: .registry(foreign.store))
            await elsewhere.close()
            guard case .rejected(let foreignReport) = outcomeForeign else {
                Issue.record("a foreign manifest was accepted")
                return
            }
            #expect(foreignReport.problems.contains { $0.rule == "chain" }, "\(foreignReport.problems.map(\.line))")

            // A revoked manifest signer.
            _ = try await Revoker(store: factory.store, clock: factory.world.clock, actor: "test").revoke(
                .certificate(serial: factory.signer.certificate.serialNumber.hexString, issuer: "vendor-acme"),
                reason: .keyCompromise, invalidityDate: nil)
            document = exported.document
            document.lot = "L1-revoked"
            let revokedSigner = try await refused(
                try factory.resign(document), status: .registry(factory.store))
            #expect(revokedSigner.problems.contains { $0.rule == "signer-status" && $0.detail.contains("revoked") })
            await ownerSubject.close()
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return start }
        }
        return nil
    }
}

/// Manifest imports check every status (issue 11, item 4): the vendor CA against the root's CRL, and each device
/// against the vendor's, from the CRLs given or from the registry.
extension SupplyChainConformanceTests {
    /// The CRLs the ecosystem publishes now: the root's and the vendor CA's.
    static func crls(_ factory: Factory) async throws -> (root: [UInt8], vendor: [UInt8]) {
        let root = try await factory.world.ecosystem.publishRootCRL(into: factory.store)
        let vendor = try await CRLPublisher(
            store: factory.store, policy: factory.world.ecosystem.policy, clock: factory.world.clock
        ).publish(factory.authority)
        return (root.der, try #require(vendor.first { $0.scope == .complete }).der)
    }

    @Test(
        "a manifest under a vendor CA the root revoked is refused, also when only the vendor's CRL is given",
        arguments: StoreKind.allCases)
    func revokedVendorCA(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let factory = try await Factory(on: subject)
            try await factory.provision(2)
            let exported = try await factory.export()
            _ = try await Revoker(store: factory.store, clock: factory.world.clock, actor: "root-ceremony").revoke(
                .certificate(serial: factory.authority.certificate.serialNumber.hexString, issuer: "root"),
                reason: .cACompromise)
            let (rootCRL, vendorCRL) = try await Self.crls(factory)
            let (ownerSubject, owner) = try await Self.ownerRegistry(kind, root: factory.world.root)
            let importer = Self.importer(owner, root: factory.world.root)

            for (evidence, expected) in [
                (StatusEvidence.crls([vendorCRL]), "unknown"), (.crls([vendorCRL, rootCRL]), "is revoked"),
                (.registry(factory.store), "is revoked"),
            ] {
                guard
                    case .rejected(let report) = try await importer.importManifest(
                        exported.bytes, owner: "Globex-Ops", status: evidence)
                else {
                    Issue.record("a manifest under a revoked vendor CA was accepted (\(expected))")
                    continue
                }
                #expect(
                    report.problems.contains {
                        $0.rule == "signer-status" && $0.detail.contains("Acme Issuing CA")
                            && $0.detail.contains(expected)
                    }, "\(report.problems.map(\.line))")
            }
            #expect(try await owner.devices(matching: DeviceFilter()).isEmpty)
            await ownerSubject.close()
        }
    }

    @Test(
        "a manifest with a revoked device is refused, and the report names that device", arguments: StoreKind.allCases)
    func revokedDevice(_ kind: StoreKind) async throws {
        try await withStore(kind) { subject in
            let factory = try await Factory(on: subject)
            try await factory.provision(3)
            let exported = try await factory.export()
            _ = try await Revoker(store: factory.store, clock: factory.world.clock, actor: "test")
                .revoke(.device(serial: try factory.line.serial(2), vendor: nil), reason: .keyCompromise)
            let (rootCRL, vendorCRL) = try await Self.crls(factory)
            let (ownerSubject, owner) = try await Self.ownerRegistry(kind, root: factory.world.root)
            let importer = Self.importer(owner, root: factory.world.root)
            for evidence in [StatusEvidence.crls([vendorCRL, rootCRL]), .registry(factory.store)] {
                guard
                    case .rejected(let report) = try await importer.importManifest(
                        exported.bytes, owner: "Globex-Ops", status: evidence)
                else {
                    Issue.record("a manifest with a revoked device was accepted")
                    continue
                }
                let revoked = report.problems.filter { $0.rule == "revoked" }
                #expect(revoked.map(\.serial) == ["L1-000002"], "\(report.problems.map(\.line))")
            }
            #expect(try await owner.devices(matching: DeviceFilter()).isEmpty)
            await ownerSubject.close()
        }
    }
}
