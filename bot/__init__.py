"""Herald: queued Markdown news -> newsletter and social posts -> scheduled, recorded delivery."""
