"""API tokens: bearer tokens for the HTTP API, stored as SHA-256 hashes only.

Revision ID: 0006
Revises: 0005

``queueconsole token create`` prints a secret once and stores its hash; the API
looks a presented secret up by that hash (``api_tokens_hash_key``), so the
secret itself is never written anywhere. A revoked token keeps its row (its
name, scope and dates stay visible in ``token list``) with ``revoked_at`` set.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_tokens (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            token_hash text NOT NULL,
            scope text NOT NULL CHECK (scope IN ('read', 'submit', 'operate')),
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at timestamptz,
            CONSTRAINT api_tokens_name_key UNIQUE (name),
            CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS api_tokens")
