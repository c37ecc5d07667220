rule demo:
    output:
        video=DEMO_FILES[0],
        specks=DEMO_FILES[1],
    log:
        "logs/demo.log",
    shell:
        "aivid demo {output.video} {output.specks} 2> {log}"
