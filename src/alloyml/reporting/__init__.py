"""What a scientist reads: the project workspace (:mod:`.workspace`: the outputs of a run), the
HTML report from Jinja templates (:mod:`.report`, ``templates/``) and the plots (:mod:`.plots`)."""
