"""The server's explicit limits, in one place so each is configurable (cpd serve flags)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    # Bodies past this get 413 before parsing (kube-apiserver: 3 MiB).
    max_body_bytes: int = 3 * 1024 * 1024
    # A JSON patch with more operations is refused (kube-apiserver: 10,000).
    max_json_patch_operations: int = 10_000
    # Requests served at once before 429 (kube-apiserver: 400 read-only, 200 mutating).
    max_readonly_inflight: int = 400
    max_mutating_inflight: int = 200
    # Non-watch requests longer than this get 504 (kube-apiserver: 60 s).
    request_timeout: float = 60.0
