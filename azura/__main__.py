from azura.cli import main_entry

main_entry()
