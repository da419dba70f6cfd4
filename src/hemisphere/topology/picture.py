"""The installation as a picture: sites, their databases, the WAN links and what each carries.

`hemisphere plan SPEC --svg FILE` draws it from the spec (`picture_from_spec`); the console's
data-centers page draws the same picture from its registry (`Picture` built by the console), with
each DC coloured by its health. Drawing is a pure function of a `Picture` (`render_svg`): same
input, same bytes (a golden test holds it), no fonts or scripts needed to view it.

Layout: the central site (console, and the shared database when it lives there) on top; a
shared database outside every cluster sits beside it in the customer's trusted zone; the data
centers in a row below, each with its own database when it has one. Every DC hangs off one bus
from the central site, and the label on its drop says everything that DC's WAN link carries.
An air-gapped installation is drawn inside a dashed boundary that no link crosses.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from hemisphere.topology.sites import CloudNativePGDatabase, Datacenter, ExternalDatabase
from hemisphere.topology.spec import InstallSpec

__all__ = ["Picture", "PictureDatabase", "PictureSite", "picture_from_spec", "render_svg"]


@dataclass(frozen=True)
class PictureDatabase:
    label: str  # e.g. "PostgreSQL hq-db"
    detail: str  # e.g. "CloudNativePG, 3 instances"


@dataclass(frozen=True)
class PictureSite:
    key: str
    title: str  # "fra — data center 1"
    subtitle: str  # "Frankfurt, DE"
    central: bool
    components: tuple[str, ...]
    database: PictureDatabase | None = None  # a database inside this site
    status: str | None = None  # Ready | Unknown | NeverSeen | Cordoned (the console's view)
    # What this site's WAN link to the central site carries (DCs only).
    carries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Picture:
    title: str
    subtitle: str
    sites: tuple[PictureSite, ...]
    # A database outside every site (the customer's trusted zone), shared by the DCs.
    outside_database: PictureDatabase | None = None
    air_gapped: bool = False
    notes: tuple[str, ...] = field(default=())


def picture_from_spec(spec: InstallSpec) -> Picture:
    info = spec.scenario_info
    sites: list[PictureSite] = []
    outside: PictureDatabase | None = None
    if spec.central is not None:
        central_db = None
        db = spec.console_database
        if db.site == spec.central.name:
            central_db = _db(db.key, db.config, shared=db.shared)
        components = ["management console", "identity · DC registry"]
        if spec.hosts_control_planes:
            components.append(
                f"{len(spec.hosted_control_planes_on(spec.central.name))} hosted DC control planes"
            )
        sites.append(
            PictureSite(
                key=spec.central.name,
                title=f"{spec.central.name} — central",
                subtitle=spec.central.domain,
                central=True,
                components=tuple(components),
                database=central_db,
            )
        )
    for dc in spec.datacenters:
        db = spec.database_for(dc.id)
        local = db.site == dc.name or (db.site is None and _in_network(db.config, dc))
        inside = _db(db.key, db.config, shared=db.shared) if local else None
        if db.site is None and not local and outside is None:
            outside = _db(db.key, db.config, shared=db.shared)
        components = [
            "workspace API · reconciler",
            f"runtime {dc.runtime} · Ceph",
            "agent (dials out)",
        ]
        if spec.console_site == dc.name:
            components.insert(0, "management console")
        carries: list[str] = []
        if spec.console_site != dc.name:
            carries.append("heartbeats · snapshots → console")
            if not spec.shares_database:
                carries.append("identity feed ← console")
            carries.append("workspace routing ← console")
        if not local:
            where = f" on {db.site}" if db.site else ""
            carries.append(f"DB connection → {db.key}{where}")
        cp = spec.control_plane_host_for(dc.id)
        if cp.hosted:
            carries.append(f"workers → control plane on {cp.site}")
        sites.append(
            PictureSite(
                key=dc.name,
                title=f"{dc.name} — data center {dc.id}",
                subtitle=f"{dc.city}, {dc.country_code}",
                central=False,
                components=tuple(components),
                database=inside,
                carries=tuple(carries),
            )
        )
    return Picture(
        title=f"{spec.name} {spec.version}",
        subtitle=f"scenario {info.number}: {info.title}",
        sites=tuple(sites),
        outside_database=outside,
        air_gapped=spec.is_air_gapped,
    )


def _in_network(config: object, dc: Datacenter) -> bool:
    """An external database whose address is inside the DC's node network is the DC's own."""
    if not isinstance(config, ExternalDatabase):
        return False
    try:
        return ipaddress.ip_address(config.host) in dc.network.node_cidr
    except ValueError:
        return False


def _db(key: str, config: object, *, shared: bool) -> PictureDatabase:
    if isinstance(config, CloudNativePGDatabase):
        n = config.instances
        detail = f"CloudNativePG, {n} instance{'s' if n != 1 else ''}"
    else:
        detail = f"external {getattr(config, 'host', '')}".strip()
    if len(detail) > 38:
        detail = detail[:37] + "…"
    label = f"PostgreSQL {key}" + (" (shared)" if shared and "shared" not in key else "")
    return PictureDatabase(label, detail)


# ---- drawing ------------------------------------------------------------------------------

_W_DC, _GAP, _MARGIN = 270, 30, 40
_TOP = 90
_STATUS = {
    "Ready": ("#16a34a", "Ready"),
    "Unknown": ("#d97706", "Unknown"),
    "NeverSeen": ("#6b7280", "never seen"),
    "Cordoned": ("#7c3aed", "Cordoned"),
}
_CSS = (
    "text{font-family:DejaVu Sans,Verdana,Arial,sans-serif;fill:#1f2937}"
    ".t{font-size:15px;font-weight:700}.s{font-size:12px;fill:#4b5563}"
    ".c{font-size:12px}.l{font-size:11px;fill:#374151}.h{font-size:20px;font-weight:700}"
    ".site{fill:#f8fafc;stroke:#334155;stroke-width:1.5}"
    ".central{fill:#eef2ff;stroke:#4338ca;stroke-width:1.5}"
    ".db{fill:#fef9c3;stroke:#a16207;stroke-width:1.2}"
    ".wan{stroke:#0f766e;stroke-width:2.5;fill:none}"
    ".label{fill:#ffffff;stroke:#99f6e4;stroke-width:1}"
    ".gap{fill:none;stroke:#b91c1c;stroke-width:2;stroke-dasharray:8 5}"
    ".zone{fill:#fffbeb;stroke:#a16207;stroke-width:1;stroke-dasharray:4 3}"
)


def _text(x: float, y: float, content: str, cls: str, anchor: str = "start") -> str:
    a = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return f'<text x="{x:g}" y="{y:g}" class="{cls}"{a}>{escape(content)}</text>'


def _cylinder(x: float, y: float, w: float, db: PictureDatabase) -> list[str]:
    h, ry = 46, 7
    body = (
        f'<path class="db" d="M{x:g},{y + ry:g} v{h - 2 * ry:g} a{w / 2:g},{ry} 0 0 0 {w:g},0 '
        f'v{-(h - 2 * ry):g} a{w / 2:g},{ry} 0 0 0 {-w:g},0 z"/>'
    )
    top = f'<ellipse class="db" cx="{x + w / 2:g}" cy="{y + ry:g}" rx="{w / 2:g}" ry="{ry}"/>'
    return [
        body,
        top,
        _text(x + w / 2, y + 28, db.label, "c", "middle"),
        _text(x + w / 2, y + 41, db.detail, "l", "middle"),
    ]


def _site_height(site: PictureSite) -> int:
    return 70 + 17 * len(site.components) + (56 if site.database else 0)


def _site_box(x: float, y: float, w: float, h: float, site: PictureSite) -> list[str]:
    cls = "central" if site.central else "site"
    out = [f'<rect class="{cls}" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="10"/>']
    out.append(_text(x + 14, y + 24, site.title, "t"))
    out.append(_text(x + 14, y + 41, site.subtitle, "s"))
    if site.status in _STATUS:
        colour, label = _STATUS[site.status]
        out.append(f'<circle cx="{x + w - 20:g}" cy="{y + 20:g}" r="7" fill="{colour}"/>')
        out.append(_text(x + w - 32, y + 24, label, "s", "end"))
    for i, line in enumerate(site.components):
        out.append(_text(x + 14, y + 64 + 17 * i, f"• {line}", "c"))
    if site.database is not None:
        dy = y + 64 + 17 * len(site.components) - 4
        out += _cylinder(x + 14, dy, w - 28, site.database)
    return out


def render_svg(picture: Picture) -> str:
    central = [s for s in picture.sites if s.central]
    dcs = [s for s in picture.sites if not s.central]
    n = max(len(dcs), 1)
    width = max(2 * _MARGIN + n * _W_DC + (n - 1) * _GAP, 760)
    dc_h = max((_site_height(s) for s in dcs), default=120)
    central_h = max([_site_height(s) for s in central] + [150 if picture.outside_database else 0])
    bus_y = _TOP + central_h + 50
    dc_y = bus_y + 120 if central else _TOP
    tail = 70 if picture.air_gapped else 30 + 16 * len(picture.notes)
    height = dc_y + dc_h + tail
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(picture.title)}: '
        f'{escape(picture.subtitle)}">',
        f"<style>{_CSS}</style>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        _text(_MARGIN, 36, picture.title, "h"),
        _text(_MARGIN, 58, picture.subtitle, "s"),
    ]
    row_w = n * _W_DC + (n - 1) * _GAP
    row_x = (width - row_w) / 2
    centres = [row_x + i * (_W_DC + _GAP) + _W_DC / 2 for i in range(len(dcs))]
    if central:
        c = central[0]
        cw = 330
        cx = (width - cw) / 2 if picture.outside_database is None else width / 2 - cw - 20
        out += _site_box(cx, _TOP, cw, central_h, c)
        bus_from = cx + cw / 2
        if picture.outside_database is not None:
            zx, zw = width / 2 + 20, 290
            out.append(
                f'<rect class="zone" x="{zx:g}" y="{_TOP:g}" width="{zw}" height="{central_h}" '
                'rx="10"/>'
            )
            out.append(_text(zx + 14, _TOP + 24, "customer trusted zone", "t"))
            out.append(_text(zx + 14, _TOP + 41, "outside every cluster", "s"))
            out += _cylinder(zx + 20, _TOP + 70, zw - 40, picture.outside_database)
            # The zone joins the bus too: DB connections from the DCs reach it over the WAN.
            out.append(f'<path class="wan" d="M{zx + zw / 2:g},{_TOP + central_h:g} V{bus_y:g}"/>')
        if dcs:
            left = min([*centres, bus_from])
            right = max(
                [*centres, bus_from] + ([width / 2 + 20 + 145] if picture.outside_database else [])
            )
            out.append(f'<path class="wan" d="M{bus_from:g},{_TOP + central_h:g} V{bus_y:g}"/>')
            out.append(f'<path class="wan" d="M{left:g},{bus_y:g} H{right:g}"/>')
            out.append(_text(left, bus_y - 8, "WAN", "l"))
    for i, site in enumerate(dcs):
        x = centres[i] - _W_DC / 2
        if central:
            out.append(f'<path class="wan" d="M{centres[i]:g},{bus_y:g} V{dc_y:g}"/>')
            if site.carries:
                lh = 14 * len(site.carries) + 10
                ly = bus_y + (dc_y - bus_y - lh) / 2
                out.append(
                    f'<rect class="label" x="{x + 10:g}" y="{ly:g}" width="{_W_DC - 20}" '
                    f'height="{lh}" rx="5"/>'
                )
                for j, line in enumerate(site.carries):
                    out.append(_text(centres[i], ly + 17 + 14 * j, line, "l", "middle"))
        out += _site_box(x, dc_y, _W_DC, dc_h, site)
    if picture.air_gapped:
        out.append(
            f'<rect class="gap" x="{_MARGIN / 2:g}" y="{_TOP - 20:g}" '
            f'width="{width - _MARGIN:g}" height="{height - _TOP - 10:g}" rx="14"/>'
        )
        out.append(
            _text(width / 2, height - 40, "air-gapped: no link leaves this boundary", "c", "middle")
        )
    for k, note in enumerate(picture.notes):
        out.append(_text(_MARGIN, height - 20 - 16 * (len(picture.notes) - 1 - k), note, "l"))
    out.append("</svg>")
    return "\n".join(out) + "\n"
