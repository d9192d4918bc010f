"""Studio: a deterministic interpreter of Twilio Studio flow definitions, run inside the channel
workflow. ``definition`` parses and checks flows, ``templates`` renders Liquid, ``conditions``
evaluates split conditions, ``engine`` runs widgets; side effects go through the host."""
