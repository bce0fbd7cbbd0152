"""The newsletter's templates (email/), which render reads: installed as the data package herald_templates."""
