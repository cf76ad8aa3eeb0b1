"""RFC 6962 Merkle tree against a direct transcription of the RFC's MTH definition."""

import random

import pytest

from ledgerline.ledger.engine.merkle import (
    EMPTY_ROOT,
    Frontier,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


LEAVES = [leaf_hash(str(i).encode()) for i in range(40)]
TREE = MerkleTree(LEAVES)


def test_roots_match_the_rfc_definition_at_every_size():
    for n in range(0, 41):
        assert TREE.root(n) == mth(LEAVES[:n])


def test_every_inclusion_proof_verifies_and_a_wrong_leaf_does_not():
    for n in range(1, 41):
        for i in range(n):
            proof = TREE.inclusion_proof(i, n)
            assert verify_inclusion(LEAVES[i], i, n, proof, TREE.root(n))
            assert not verify_inclusion(LEAVES[(i + 1) % 40], i, n, proof, TREE.root(n)) or n == 1 and i == 0


def test_every_consistency_proof_verifies_and_a_rewritten_history_does_not():
    rewritten = MerkleTree(LEAVES[:5] + [leaf_hash(b"forged")] + LEAVES[6:])
    for n in range(1, 41):
        for m in range(0, n + 1):
            proof = TREE.consistency_proof(m, n)
            assert verify_consistency(m, n, TREE.root(m), TREE.root(n), proof)
        if n > 6:
            assert not verify_consistency(6, n, rewritten.root(6), TREE.root(n), TREE.consistency_proof(6, n))


def test_proof_size_is_logarithmic():
    tree = MerkleTree([leaf_hash(random.randbytes(8)) for _ in range(5000)])
    assert len(tree.inclusion_proof(1234)) <= 13
    assert len(tree.consistency_proof(3000)) <= 2 * 13


def test_a_frontier_extended_leaf_by_leaf_has_the_trees_root_and_edge_at_every_size():
    frontier = Frontier()
    for n in range(0, 41):
        assert frontier.size == n and frontier.root() == TREE.root(n) == mth(LEAVES[:n])
        assert frontier == TREE.frontier(n) == Frontier.from_bytes(n, frontier.to_bytes())
        if n < 40:
            frontier.append(LEAVES[n])


def test_a_frontier_of_the_wrong_length_for_its_size_is_refused():
    with pytest.raises(ValueError, match="has 2 hashes"):
        Frontier.from_bytes(6, bytes(32))


def test_an_extended_frontier_is_a_copy():
    base = TREE.frontier(5)
    assert base.extended(LEAVES[5:13]) == TREE.frontier(13) and base == TREE.frontier(5)
