// swift-tools-version:6.1
import PackageDescription

/// Settings every Fleetkey target shares: Swift 6 mode plus the upcoming features the style guide asks for.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "fleetkey",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fleetkey", targets: ["FleetkeyCLI"]),
        .executable(name: "fleetkey-bench", targets: ["FleetkeyBench"]),
        .library(name: "FleetkeyCore", targets: ["FleetkeyCore"]),
        .library(name: "FleetkeyTesting", targets: ["FleetkeyTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // The rules: domain types, lifecycle, policy, profiles and the CA engine. No I/O.
        .target(
            name: "FleetkeyCore",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The embedded registry: SQLite through GRDB, behind the core's RegistryStore protocol.
        .target(
            name: "FleetkeySQLite",
            dependencies: [
                "FleetkeyCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: strictSettings
        ),
        // Key custody: the encrypted software keystore (embedded default).
        .target(
            name: "FleetkeyCustody",
            dependencies: [
                "FleetkeyCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The `fleetkey` command: wires the store and custody into the core.
        .executableTarget(
            name: "FleetkeyCLI",
            dependencies: [
                "FleetkeyCore",
                "FleetkeySQLite",
                "FleetkeyCustody",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Fakes that tests and users both need: fixed clock, seeded randomness, in-memory store, throwaway CA.
        .target(
            name: "FleetkeyTesting",
            dependencies: [
                "FleetkeyCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FleetkeyBench",
            dependencies: [
                "FleetkeyCore",
                "FleetkeySQLite",
                "FleetkeyCustody",
                "FleetkeyTesting",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FleetkeyCoreTests",
            dependencies: [
                "FleetkeyCore", "FleetkeyTesting",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FleetkeySQLiteTests",
            dependencies: [
                "FleetkeyCore", "FleetkeySQLite", "FleetkeyCustody", "FleetkeyTesting",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FleetkeyIntegrationTests",
            dependencies: [
                "FleetkeyCore", "FleetkeyTesting", "FleetkeyCustody", "FleetkeySQLite",
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
