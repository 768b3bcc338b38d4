import FleetkeyCore
import FleetkeyCustody
import FleetkeyTesting
import Foundation

/// The ecosystem every registry workload starts from: a P-384 root and one P-256 vendor, "Bench Devices", with
/// keys in a software keystore at the lowest scrypt cost (the benchmark measures issuance, not key unsealing).
enum BenchEcosystem {
    static let vendor = try! VendorName("Bench Devices")

    static func make(registry: any RegistryStore, keys: URL) async throws -> (Ecosystem, CertificateAuthority) {
        let policy = try EcosystemPolicy(
            ecosystem: "Bench", baseURL: "http://127.0.0.1:8080", hardwareModuleType: "2.25.1")
        let keystore = try SoftwareKeystore(
            directory: keys, passphrase: Passphrase("benchmark passphrase"),
            cost: ScryptCost(log2N: ScryptCost.minimumLog2N))
        let ecosystem = Ecosystem(
            policy: policy, store: registry, custody: keystore, clock: SystemWallClock(), random: SystemRandomSource(),
            actor: "bench")
        _ = try await ecosystem.createRoot(algorithm: .p384)
        _ = try await ecosystem.addVendor(vendor, algorithm: .p256)
        return (ecosystem, try await ecosystem.vendorAuthority(vendor))
    }
}

/// The fleet the lookup workloads load: vendor Acme's devices `DEV-<n>` (``FleetkeyTesting/SyntheticFleet``).
enum BenchFleet {
    static let fleet = SyntheticFleet(vendor: try! VendorName("Acme"), lot: "LOT", prefix: "DEV", owner: "Bench Owner")
}
