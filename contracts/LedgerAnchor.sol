// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity ^0.8.20;

/// Anchors Ledgerline's signed tree heads: (treeSize, root) pairs that only grow.
contract LedgerAnchor {
    address public immutable owner;
    uint64 public latestTreeSize;
    mapping(uint64 => bytes32) public rootAt;

    event Anchored(uint64 indexed treeSize, bytes32 root, uint64 timestampMs);

    error NotOwner();
    error TreeSizeWentBackwards(uint64 latest, uint64 given);
    error RootConflict(uint64 treeSize);

    constructor() {
        owner = msg.sender;
    }

    function anchor(uint64 treeSize, bytes32 root, uint64 timestampMs) external {
        if (msg.sender != owner) revert NotOwner();
        if (treeSize < latestTreeSize) revert TreeSizeWentBackwards(latestTreeSize, treeSize);
        bytes32 existing = rootAt[treeSize];
        if (existing != bytes32(0) && existing != root) revert RootConflict(treeSize);
        rootAt[treeSize] = root;
        latestTreeSize = treeSize;
        emit Anchored(treeSize, root, timestampMs);
    }
}
