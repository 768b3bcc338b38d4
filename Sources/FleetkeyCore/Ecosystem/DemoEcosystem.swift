import Crypto
import Foundation
import SwiftASN1
import X509

/// The demo's sequence, from nothing to a small working ecosystem: a root, two vendors, a few devices each, and a
/// factory lot in secure elements with its signed manifest. The CLI only writes the files and prints the next steps.
public struct DemoEcosystem: Sendable {
    public let ecosystem: Ecosystem
    public let supplyChain: any SupplyChainStore

    public init(ecosystem: Ecosystem, supplyChain: any SupplyChainStore) {
        self.ecosystem = ecosystem
        self.supplyChain = supplyChain
    }

    /// The vendors the demo admits, and the prefix of their devices' serials.
    public static let vendors: [(name: String, prefix: String)] = [
        ("Acme Sensors", "ACME"), ("Globex Devices", "GLBX"),
    ]
    /// The factory lot the demo provisions for the first vendor.
    public static let factoryLot = "ACME-FACTORY-1"

    /// What the demo made.
    public struct Fleet: Sendable {
        public var root: Certificate
        public var vendors: [Ecosystem.VendorSetup]
        /// Device identities issued from requests, by vendor, in order.
        public var devices: [(vendor: VendorName, certificate: Certificate)]
        public var manifest: ManifestExporter.Export
    }

    /// Runs the sequence. `elements` gives the secure elements of a vendor's factory lot; `progress` hears each step.
    public func build(
        devicesPerVendor: Int, elements: (VendorName) throws -> any SecureElementSource,
        progress: (String) -> Void = { _ in }
    ) async throws -> Fleet {
        guard (1...1000).contains(devicesPerVendor) else {
            throw FleetkeyError(.invalidArgument, "--devices must be between 1 and 1000")
        }
        progress("Creating the ecosystem '\(ecosystem.policy.ecosystem)'")
        let root = try await ecosystem.createRoot(algorithm: .p384)
        let hardwareType = try ASN1ObjectIdentifier(dotRepresentation: ecosystem.policy.hardwareModuleType)
        var setups: [Ecosystem.VendorSetup] = []
        var devices: [(vendor: VendorName, certificate: Certificate)] = []
        for (vendorText, prefix) in Self.vendors {
            let vendor = try VendorName(vendorText)
            progress("Admitting vendor '\(vendor)'")
            setups.append(try await ecosystem.addVendor(vendor, algorithm: .p256))
            let authority = try await ecosystem.vendorAuthority(vendor)
            for index in 1...devicesPerVendor {
                let serial = try DeviceSerial(String(format: "%@-%06d", prefix, index))
                // A simulated device: its key is made here and discarded; a real one is born in a secure element.
                let request = try RequestBuilder.deviceRequest(
                    vendor: vendor, serial: serial,
                    hardwareModule: HardwareModuleName(
                        hardwareType: hardwareType, serialNumber: Array("SE-\(serial.value)".utf8)),
                    key: Certificate.PrivateKey(P256.Signing.PrivateKey()))
                let issued = try await ecosystem.issueDeviceIdentity(
                    .init(csr: try request.derBytes(), lot: "\(prefix)-LOT-1"), by: authority)
                devices.append((vendor, issued.certificate))
                progress("  issued \(serial) (serial \(issued.record.serial))")
            }
        }
        guard let index = ecosystem.store as? any RevocationStore else {
            throw FleetkeyError(.configuration, "this registry cannot hold CRLs")
        }
        try await ecosystem.publishRootCRL(into: index)
        let acme = try VendorName(Self.vendors[0].name)
        progress("Provisioning lot \(Self.factoryLot) into \(devicesPerVendor) emulated secure elements")
        let line = try FactoryLine(
            ecosystem: ecosystem, supplyChain: supplyChain, elements: try elements(acme), vendor: acme,
            lot: Self.factoryLot)
        let authority = try await ecosystem.vendorAuthority(acme)
        for index in 1...devicesPerVendor { _ = try await line.provision(index, by: authority) }
        let signer = try await ecosystem.delegatedSigner(
            vendor: acme, profile: CertificateProfile.Name.manifestSigner, index: index)
        let manifest = try await ManifestExporter(ecosystem: ecosystem, supplyChain: supplyChain).export(
            vendor: acme, lot: Self.factoryLot, buyer: nil, signer: signer)
        return Fleet(root: root, vendors: setups, devices: devices, manifest: manifest)
    }
}
