"""TODO"""

from __future__ import annotations

TOKEN = "file token"


ATTACHMENT_TOKEN = "attachment token"


# --- files ------------------------------------------------------------------------------------
def folder(sim):
    return sim.config.data_dir / "attachments"


def remove_attachment(sim, attachment_id: str) -> bool:
    row = sim.store.attachment(attachment_id)
    if row is None:
        return False
    (folder(sim) / row["stored_name"]).unlink(missing_ok=True)
    token = sim.store.get_resource(ATTACHMENT_TOKEN, attachment_id)
    if token is not None:
        sim.store.delete_resource(TOKEN, token["token"])
        sim.store.delete_resource(ATTACHMENT_TOKEN, attachment_id)
    return sim.store.delete_attachment(attachment_id)
