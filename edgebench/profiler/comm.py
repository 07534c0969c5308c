"""Communication time and energy *estimated* from the device profile's network link model.

Nothing here is measured: the in-process engine moves payloads through memory. For each direction,
time = latency_s + bytes x 8 / (Mbit/s x 1e6); energy = bytes x energy_per_byte_j, or
time_up x tx_power_w + time_down x rx_power_w, whichever the link model gives.
"""

from __future__ import annotations

from edgebench.devices.profiles import LinkModel


def estimate_comm(link: LinkModel, bytes_down: int, bytes_up: int) -> tuple[float, float | None]:
    """(seconds, joules or None) to receive `bytes_down` and send `bytes_up` over `link` (estimates)."""
    down_s = link.latency_s + bytes_down * 8 / (link.downlink_mbit_s * 1e6)
    up_s = link.latency_s + bytes_up * 8 / (link.uplink_mbit_s * 1e6)
    if link.energy_per_byte_j is not None:
        energy: float | None = (bytes_down + bytes_up) * link.energy_per_byte_j
    elif link.tx_power_w is not None and link.rx_power_w is not None:
        energy = up_s * link.tx_power_w + down_s * link.rx_power_w
    else:
        energy = None
    return down_s + up_s, energy


def link_basis(link: LinkModel) -> str:
    """One line stating how the estimate is made (for run.json)."""
    rate = f"{link.uplink_mbit_s:g}/{link.downlink_mbit_s:g} Mbit/s up/down, {link.latency_s:g} s latency per transfer"
    if link.energy_per_byte_j is not None:
        energy = f"{link.energy_per_byte_j:g} J/byte"
    elif link.tx_power_w is not None:
        energy = f"{link.tx_power_w:g} W while sending, {link.rx_power_w:g} W while receiving"
    else:
        energy = "no energy model"
    return f"estimated: {link.name}: {rate}; {energy} ({link.source or 'source not stated'})"
