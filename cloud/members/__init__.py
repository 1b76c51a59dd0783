"""The union's member roster: who is a member, in which groups, until when, and who said so."""
